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
  if rec and rec.state == STATE.ACTIVE then
    rec.token = nil
    add_error(rec, ARGV[5])
    retry_or_fail(rec, id, now, tonumber(ARGV[3]), KEYS[3], KEYS[4])
    failed = failed + 1
    redis.call('HSET', KEYS[1], id, cjson.encode(rec))
  end
end
count(KEYS[5], ARGV[4], failed, failed)
return #ids
