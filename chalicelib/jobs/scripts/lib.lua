-- lib: pieces shared by several scripts, put in front of each script when it is loaded (after
-- the STATE, OUTCOME and ERRORS_KEPT constants that the record module generates). Each function
-- touches only keys its caller passes in, which the caller declared in its own KEYS.

-- One Redis call per batch, not per job: a script's calls cost Redis as much as a client's, less
-- the network. Lua hands at most a few thousand values to one call, so long lists go in chunks
-- (of an even size: lists of pairs stay whole).
local CHUNK = 1000

-- HMGET of `fields` in chunks; one value (false when the field is missing) per field, in order.
local function hmget_many(key, fields)
  local values = {}
  for i = 1, #fields, CHUNK do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for j = 1, #part do values[#values + 1] = part[j] end
  end
  return values
end

-- `command key arg...` over `args` in chunks (HSET field value..., ZADD score member...,
-- ZREM member...); nothing when `args` is empty.
local function call_many(command, key, args)
  for i = 1, #args, CHUNK do
    redis.call(command, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
  end
end

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

-- A job just ended COMPLETED or FAILED: push one token per registered waiter to its done list
-- (which expires: a token left by a waiter that gave up goes by itself), and put the job in the
-- outbox when it has a callback to deliver. `done_key` may be nil when the caller could not
-- name it (recover): the waiters' entry then stays, and the caller wakes them (wake);
-- `waiting_key` is nil when the caller knows that nobody waits for any job of the queue.
local function job_ended(rec, id, waiting_key, done_key, outbox_key)
  if done_key and waiting_key then
    local waiters = tonumber(redis.call('HGET', waiting_key, id) or 0)
    if waiters > 0 then
      redis.call('HDEL', waiting_key, id)
      for _ = 1, math.min(waiters, 1000) do redis.call('RPUSH', done_key, 1) end
      redis.call('EXPIRE', done_key, WAKE_TTL_S)
    end
  end
  if rec.callback then redis.call('RPUSH', outbox_key, id) end
end

-- End a job FAILED because of a cancel (not counted as a failed attempt).
local function fail_cancelled(rec, id, now, failed_key)
  rec.state = STATE.FAILED
  rec.error = CANCELLED
  rec.cancelled = true
  rec.cancel = nil
  rec.next_run_at = nil
  rec.completed_at = now
  redis.call('ZADD', failed_key, now, id)
end

-- Put an ACTIVE job back at the head of PENDING, untried: its lease was handed back, or its
-- dequeue's reply was lost. Writes the record.
local function back_to_pending_head(rec, id, job_key, lease_key, pending_key)
  rec.state = STATE.PENDING
  rec.token = nil
  rec.leased_at = nil
  rec.started_at = nil
  redis.call('HSET', job_key, id, cjson.encode(rec))
  redis.call('ZREM', lease_key, id)
  redis.call('LPUSH', pending_key, id)
end
