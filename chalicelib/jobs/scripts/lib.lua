-- lib: pieces shared by several scripts, put in front of each script when it is loaded (after
-- the STATE, OUTCOME and ERRORS_KEPT constants that the record module generates). Each function
-- touches only keys its caller passes in, which the caller declared in its own KEYS.

-- Leave one token in a wake list, so that one idle worker blocked on it wakes up.
local function rearm_wake(wake_key)
  redis.call('LPUSH', wake_key, 1)
  redis.call('LTRIM', wake_key, 0, 0)
end

-- Record a failed attempt's error: the latest in rec.error, the last ERRORS_KEPT in rec.errors.
local function add_error(rec, text)
  rec.error = text
  rec.errors = rec.errors or {}
  table.insert(rec.errors, text)
  if #rec.errors > ERRORS_KEPT then table.remove(rec.errors, 1) end
end

-- After a charged failure: RETRYING at retry_at while tries are left, else FAILED for good.
-- Returns the new state.
local function retry_or_fail(rec, id, now, retry_at, retry_key, failed_key)
  if rec.retried < rec.max_retry then
    rec.state = STATE.RETRYING
    rec.retried = rec.retried + 1
    rec.next_run_at = retry_at
    redis.call('ZADD', retry_key, retry_at, id)
  else
    rec.state = STATE.FAILED
    rec.completed_at = now
    redis.call('ZADD', failed_key, now, id)
  end
  return rec.state
end

-- Add to the queue's counters, in total and for the day (YYYY-MM-DD).
local function count(stats_key, day, processed, failed)
  if processed > 0 then
    redis.call('HINCRBY', stats_key, 'processed', processed)
    redis.call('HINCRBY', stats_key, 'processed:' .. day, processed)
  end
  if failed > 0 then
    redis.call('HINCRBY', stats_key, 'failed', failed)
    redis.call('HINCRBY', stats_key, 'failed:' .. day, failed)
  end
end

-- Release a unique job's lock when this job still holds it (after it expired, a later job of the
-- same params may hold it).
local function release_unique(lock_key, id)
  if redis.call('GET', lock_key) == id then redis.call('DEL', lock_key) end
end

-- Make a job PENDING now, at the tail of the queue (an operator's retry). Returns nothing.
local function make_pending(rec, id, now, pending_key)
  rec.state = STATE.PENDING
  rec.next_run_at = nil
  rec.completed_at = nil
  rec.pending_since = now
  redis.call('RPUSH', pending_key, id)
end
