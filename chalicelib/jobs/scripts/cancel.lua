-- cancel: a client's cancel. A PENDING, FUTURE or RETRYING job ends FAILED at once (error
-- CANCELLED, `cancelled`), its waiters woken; an ACTIVE one is marked `cancel` in its in-flight
-- entry: its worker does not start it, its handler may stop early, and it ends FAILED so
-- unless it completes first. A COMPLETED or FAILED job is left as it is.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:pending    LIST
-- KEYS[3] jobs:{q}:scheduled  ZSET
-- KEYS[4] jobs:{q}:retry      ZSET
-- KEYS[5] jobs:{q}:failed     ZSET
-- KEYS[6] jobs:{q}:waiting    HASH  id -> how many waiters wait for the job's end
-- KEYS[7] jobs:{q}:done:<id>  LIST  its waiters' wake-up list
-- KEYS[8] jobs:{q}:outbox     LIST  ended jobs whose callback is still to be enqueued
-- KEYS[9] jobs:{q}:active     HASH  ACTIVE id -> in-flight entry
-- ARGV[1] id, ARGV[2] now s
-- Returns {state before, record after, in-flight entry after or ''}: {0, '', ''} for no such
-- job. Errors with LEGACY for a record of an older layout.
local id, now = ARGV[1], tonumber(ARGV[2])
local raw = redis.call('HGET', KEYS[1], id)
if not raw then return {0, '', ''} end
if is_legacy(raw) then return redis.error_reply(LEGACY) end
local e = entry_of(redis.call('HGET', KEYS[9], id))
if e and e.token ~= '' then
  if not e.cancel then
    e.cancel = true
    redis.call('HSET', KEYS[9], id, entry_value(e))
  end
  return {STATE.ACTIVE, raw, entry_value(e)}
end
local before = state_of(raw)
if before == STATE.COMPLETED or before == STATE.FAILED then return {before, raw, ''} end
if before == STATE.PENDING then
  redis.call('LREM', KEYS[2], 1, id)
  redis.call('HDEL', KEYS[9], id)  -- a cancel mark left by a hand-back
else
  redis.call('ZREM', before == STATE.FUTURE and KEYS[3] or KEYS[4], id)
end
local rec = settling(raw)
fail_cancelled(rec, id, now, KEYS[5])
local after = encode(rec)
redis.call('HSET', KEYS[1], id, after)
job_ended(raw, id, KEYS[6], KEYS[7], KEYS[8])
return {before, after, ''}
