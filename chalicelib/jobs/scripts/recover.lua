-- recover: ACTIVE jobs whose lease expired (their worker died, stopped or lost Redis).
-- A job whose start was recorded is charged for the attempt: RETRYING, or FAILED when out of
-- retries. A job whose start was never recorded goes back to the head of PENDING uncharged
-- (retried unchanged, no error); `recovered` counts such returns, so that its next worker
-- records its start before running it and a handler that kills its worker is charged.
-- KEYS[1] jobs:{q}:job      HASH
-- KEYS[2] jobs:{q}:lease    ZSET
-- KEYS[3] jobs:{q}:retry    ZSET
-- KEYS[4] jobs:{q}:failed   ZSET
-- KEYS[5] jobs:{q}:stats    HASH
-- KEYS[6] jobs:{q}:pending  LIST
-- KEYS[7] jobs:{q}:wake     LIST
-- KEYS[8] jobs:{q}:outbox   LIST  ended jobs whose callback is still to be enqueued
-- ARGV[1] now s, ARGV[2] at most this many jobs, ARGV[3] retry_at s, ARGV[4] day, ARGV[5] error text
-- A job a cancel was asked for ends FAILED (CANCELLED) instead, uncharged.
-- Returns {charged, returned, id, unique hash or '', ...}: how many jobs were charged, how many
-- went back uncharged, then each job that ended FAILED: this script cannot name its unique
-- lock's key nor its waiters' list, so the caller releases the one (unlock) and wakes the
-- other (wake).
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local charged, returned, ended = 0, 0, {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  local raw = redis.call('HGET', KEYS[1], id)
  local rec = raw and cjson.decode(raw)
  if rec and rec.state == STATE.ACTIVE then
    rec.token = nil
    rec.leased_at = nil
    if rec.cancel then
      fail_cancelled(rec, id, now, KEYS[4])
      job_ended(rec, id, nil, nil, KEYS[8])
      ended[#ended + 1] = id
      ended[#ended + 1] = rec.unique or ''
    elseif rec.started_at then
      rec.orphaned = (rec.orphaned or 0) + 1
      add_error(rec, ARGV[5] .. ' (' .. rec.orphaned .. ' orphaned start(s))')
      if retry_or_fail(rec, id, now, tonumber(ARGV[3]), KEYS[3], KEYS[4]) == STATE.FAILED then
        job_ended(rec, id, nil, nil, KEYS[8])
        ended[#ended + 1] = id
        ended[#ended + 1] = rec.unique or ''
      end
      charged = charged + 1
    else
      rec.state = STATE.PENDING
      rec.recovered = (rec.recovered or 0) + 1
      rec.pending_since = now
      redis.call('LPUSH', KEYS[6], id)
      returned = returned + 1
    end
    redis.call('HSET', KEYS[1], id, cjson.encode(rec))
  end
end
count(KEYS[5], ARGV[4], charged, charged)
if returned > 0 then rearm_wake(KEYS[7]) end
table.insert(ended, 1, returned)
table.insert(ended, 1, charged)
return ended
