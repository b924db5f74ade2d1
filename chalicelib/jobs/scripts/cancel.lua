-- cancel: a client's cancel. A PENDING, FUTURE or RETRYING job ends FAILED at once (error
-- CANCELLED, `cancelled`), its waiters woken; an ACTIVE one is marked `cancel`: its worker does
-- not start it, its handler may stop early, and it ends FAILED so unless it completes first.
-- A COMPLETED or FAILED job is left as it is.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:pending    LIST
-- KEYS[3] jobs:{q}:scheduled  ZSET
-- KEYS[4] jobs:{q}:retry      ZSET
-- KEYS[5] jobs:{q}:failed     ZSET
-- KEYS[6] jobs:{q}:waiting    HASH  id -> how many waiters wait for the job's end
-- KEYS[7] jobs:{q}:done:<id>  LIST  its waiters' wake-up list
-- KEYS[8] jobs:{q}:outbox     LIST  ended jobs whose callback is still to be enqueued
-- ARGV[1] id, ARGV[2] now s
-- Returns {state before, record JSON after, unique hash or ''}: {0, '', ''} for no such job. The
-- script cannot name a unique lock's key: the caller releases it (unlock) when the job ended.
local id, now = ARGV[1], tonumber(ARGV[2])
local raw = redis.call('HGET', KEYS[1], id)
if not raw then return {0, '', ''} end
local rec = cjson.decode(raw)
local before = rec.state
if before == STATE.COMPLETED or before == STATE.FAILED then return {before, raw, ''} end
if before == STATE.ACTIVE then
  if rec.cancel then return {before, raw, ''} end
  rec.cancel = true
  local encoded = cjson.encode(rec)
  redis.call('HSET', KEYS[1], id, encoded)
  return {before, encoded, ''}
end
if before == STATE.PENDING then
  redis.call('LREM', KEYS[2], 1, id)
else
  redis.call('ZREM', before == STATE.FUTURE and KEYS[3] or KEYS[4], id)
end
fail_cancelled(rec, id, now, KEYS[5])
local encoded = cjson.encode(rec)
redis.call('HSET', KEYS[1], id, encoded)
job_ended(rec, id, KEYS[6], KEYS[7], KEYS[8])
return {before, encoded, rec.unique or ''}
