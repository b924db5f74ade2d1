-- forward: move FUTURE and RETRYING jobs that are due to PENDING.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:scheduled  ZSET
-- KEYS[3] jobs:{q}:retry      ZSET
-- KEYS[4] jobs:{q}:pending    LIST
-- KEYS[5] jobs:{q}:wake       LIST
-- ARGV[1] now s, ARGV[2] at most this many jobs per source set
-- Returns how many jobs became PENDING.
local moved = 0
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
  for _, id in ipairs(ids) do
    redis.call('ZREM', key, id)
    local raw = redis.call('HGET', KEYS[1], id)
    if raw then
      local rec = cjson.decode(raw)
      rec.state = STATE.PENDING
      rec.next_run_at = nil
      rec.pending_since = tonumber(ARGV[1])
      redis.call('HSET', KEYS[1], id, cjson.encode(rec))
      redis.call('RPUSH', KEYS[4], id)
      moved = moved + 1
    end
  end
end
if moved > 0 then rearm_wake(KEYS[5]) end
return moved
