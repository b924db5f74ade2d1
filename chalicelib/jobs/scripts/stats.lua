-- stats: the size of every state of one queue, its counters, and its oldest PENDING job.
-- KEYS[1] jobs:{q}:job, KEYS[2] pending, KEYS[3] lease, KEYS[4] scheduled, KEYS[5] retry,
-- KEYS[6] failed, KEYS[7] results (LIST), KEYS[8] stats
-- ARGV: none
-- Returns {active, pending, future, retrying, failed, completed, processed, failed_total,
--          oldest pending record or ''}.
local counters = redis.call('HMGET', KEYS[8], 'processed', 'failed')
local oldest = ''
local head = redis.call('LINDEX', KEYS[2], 0)
if head then oldest = redis.call('HGET', KEYS[1], head) or '' end
return {
  redis.call('ZCARD', KEYS[3]), redis.call('LLEN', KEYS[2]), redis.call('ZCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6]), redis.call('LLEN', KEYS[7]),
  tonumber(counters[1] or 0), tonumber(counters[2] or 0), oldest,
}
