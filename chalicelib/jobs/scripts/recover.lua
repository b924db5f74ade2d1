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
-- KEYS[9] jobs:{q}:active   HASH  ACTIVE id -> in-flight entry
-- ARGV[1] now s, ARGV[2] at most this many jobs, ARGV[3] retry_at s, ARGV[4] day, ARGV[5] error text
-- A job a cancel was asked for ends FAILED (CANCELLED) instead, uncharged.
-- Returns {charged, returned, id, ...}: how many jobs were charged, how many went back
-- uncharged, then each job that ended FAILED: this script cannot name its waiters' list, so the
-- caller wakes them (wake).
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local charged, returned, ended = 0, 0, {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  local raw = redis.call('HGET', KEYS[1], id)
  local e = entry_of(redis.call('HGET', KEYS[9], id))
  if raw and e and e.token ~= '' then
    redis.call('HDEL', KEYS[9], id)
    local rec = settling(raw)
    local state = nil
    if e.cancel then
      fail_cancelled(rec, id, now, KEYS[4])
      state = STATE.FAILED
    elseif e.started ~= '' then
      rec.o[F.started_at] = tonumber(e.started) - rec.created
      local orphaned = (rec.o[F.orphaned] or 0) + 1
      rec.o[F.orphaned] = orphaned
      add_error(rec, ARGV[5] .. ' (' .. orphaned .. ' orphaned start(s))')
      state = retry_or_fail(rec, raw, id, now, tonumber(ARGV[3]), KEYS[3], KEYS[4])
      charged = charged + 1
    else
      rec.o[F.recovered] = (rec.o[F.recovered] or 0) + 1
      set_time(rec, 'pending_since', now)
      redis.call('LPUSH', KEYS[6], id)
      returned = returned + 1
    end
    if e.progress ~= '' then rec.o[F.progress] = e.progress end
    redis.call('HSET', KEYS[1], id, encode(rec))
    if state == STATE.FAILED then
      job_ended(raw, id, nil, nil, KEYS[8])
      ended[#ended + 1] = id
    end
  end
end
count(KEYS[5], ARGV[4], charged, charged)
if returned > 0 then rearm_wake(KEYS[7]) end
table.insert(ended, 1, returned)
table.insert(ended, 1, charged)
return ended
