-- overview: what an operator sees of one queue: the size of every state, whether it is paused,
-- its counters for one day, and its oldest PENDING job.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:pending    LIST
-- KEYS[3] jobs:{q}:lease      ZSET
-- KEYS[4] jobs:{q}:scheduled  ZSET
-- KEYS[5] jobs:{q}:retry      ZSET
-- KEYS[6] jobs:{q}:failed     ZSET
-- KEYS[7] jobs:{q}:results    LIST  COMPLETED ids
-- KEYS[8] jobs:{q}:stats      HASH
-- KEYS[9] jobs:{q}:paused     STRING present while the queue is paused
-- ARGV[1] day (YYYY-MM-DD)
-- Returns {active, pending, future, retrying, failed, completed, paused (0/1),
--          processed that day, failed that day, oldest pending record or ''}.
local day = redis.call('HMGET', KEYS[8], 'processed:' .. ARGV[1], 'failed:' .. ARGV[1])
local oldest = ''
local head = redis.call('LINDEX', KEYS[2], 0)
if head then oldest = redis.call('HGET', KEYS[1], head) or '' end
return {
  redis.call('ZCARD', KEYS[3]), redis.call('LLEN', KEYS[2]), redis.call('ZCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6]), redis.call('LLEN', KEYS[7]),
  redis.call('EXISTS', KEYS[9]), tonumber(day[1] or 0), tonumber(day[2] or 0), oldest,
}
