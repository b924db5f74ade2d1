-- recover: ACTIVE jobs whose lease expired (their worker died or lost Redis) go to RETRYING,
-- or to FAILED when out of retries. The lost attempt counts as a try.
-- KEYS[1] jobs:{q}:job     HASH
-- KEYS[2] jobs:{q}:lease   ZSET
-- KEYS[3] jobs:{q}:retry   ZSET
-- KEYS[4] jobs:{q}:failed  ZSET
-- KEYS[5] jobs:{q}:stats   HASH
-- ARGV[1] now s, ARGV[2] at most this many jobs, ARGV[3] retry_at s, ARGV[4] day, ARGV[5] error text
-- Returns how many jobs were recovered.
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local failed = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  local raw = redis.call('HGET', KEYS[1], id)
  local rec = raw and cjson.decode(raw)
  if rec and rec.state == 1 then
    rec.token = nil
    rec.error = ARGV[5]
    rec.errors = rec.errors or {}
    table.insert(rec.errors, ARGV[5])
    if #rec.errors > 5 then table.remove(rec.errors, 1) end
    if rec.retried < rec.max_retry then
      rec.state = 4
      rec.retried = rec.retried + 1
      rec.next_run_at = tonumber(ARGV[3])
      redis.call('ZADD', KEYS[3], rec.next_run_at, id)
    else
      rec.state = 5
      rec.completed_at = now
      redis.call('ZADD', KEYS[4], now, id)
    end
    failed = failed + 1
    redis.call('HSET', KEYS[1], id, cjson.encode(rec))
  end
end
if failed > 0 then
  redis.call('HINCRBY', KEYS[5], 'processed', failed)
  redis.call('HINCRBY', KEYS[5], 'processed:' .. ARGV[4], failed)
  redis.call('HINCRBY', KEYS[5], 'failed', failed)
  redis.call('HINCRBY', KEYS[5], 'failed:' .. ARGV[4], failed)
end
return #ids
