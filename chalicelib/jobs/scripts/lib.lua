-- lib: pieces shared by several scripts, put in front of each script when it is loaded (after
-- the STATE, OUTCOME, F (field keys) and other constants the record module generates). Each
-- function touches only keys its caller passes in, which the caller declared in its own KEYS.

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

local function to_ms(seconds) return math.floor(seconds * 1000) end

-- The record (see record.py): `<state>{header}\n{params}[\n{outcome}[\nresult]]`. The header,
-- params and result are never decoded here; the outcome holds integers and strings only.
local function state_of(raw)
  if string.byte(raw, 1) == 123 then return cjson.decode(raw).state end  -- '{': legacy layout
  return string.byte(raw, 1) - 48
end

-- The error a script answers, before it writes anything, when it meets a record of the layout
-- before this one: the caller converts the queue (store/legacy.py) and calls again.
local LEGACY = 'LEGACY record of an older layout: convert the queue first'
local function is_legacy(raw) return raw and string.byte(raw, 1) == 123 end

-- A header field (a number or a string without escapes) read by its key, or nil. A key can
-- only match as a key: inside a JSON string every quote is escaped.
local function header_field(raw, key)
  local stop = string.find(raw, '\n', 1, true)
  local value = string.match(string.sub(raw, 2, stop - 1), '"' .. key .. '":("?[^,}"]*)')
  if value and string.byte(value, 1) == 34 then return string.sub(value, 2) end
  return value
end

-- The outcome line of a record ('' before it settled), to read a field from by key.
local function outcome_line(raw)
  local first = string.find(raw, '\n', 1, true)
  local second = first and string.find(raw, '\n', first + 1, true)
  if not second then return '' end
  local third = string.find(raw, '\n', second + 1, true)
  return string.sub(raw, second + 1, third and third - 1 or -1)
end

-- A settling record, taken apart: {state, base (header and params lines), o (outcome table),
-- result, created (ms)}. Rewritten whole by `encode`.
local function settling(raw)
  local first = string.find(raw, '\n', 1, true)
  local second = string.find(raw, '\n', first + 1, true)
  local rec = {state = string.byte(raw, 1) - 48, o = {}}
  rec.created = tonumber(header_field(raw, F.created_at)) + EPOCH_MS
  if not second then
    rec.base = string.sub(raw, 2)
    return rec
  end
  rec.base = string.sub(raw, 2, second - 1)
  local third = string.find(raw, '\n', second + 1, true)
  rec.o = cjson.decode(string.sub(raw, second + 1, third and third - 1 or -1))
  if third then rec.result = string.sub(raw, third + 1) end
  return rec
end

local function encode(rec)
  local out = rec.state .. rec.base
  if next(rec.o) ~= nil or rec.result then out = out .. '\n' .. cjson.encode(rec.o) end
  if rec.result then out = out .. '\n' .. rec.result end
  return out
end

-- Set a time field of the outcome: integer ms after the job's creation.
local function set_time(rec, name, seconds)
  rec.o[F[name]] = to_ms(seconds) - rec.created
end

-- The in-flight entry of an ACTIVE job (see record.py, ActiveEntry):
-- token|leased ms|started ms|cancel ('1' or '')|progress.
local function entry_of(value)
  if not value then return nil end
  local token, leased, started, cancel, progress =
    string.match(value, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return {token = token, leased = leased, started = started, cancel = cancel == '1',
          progress = progress}
end

local function entry_value(e)
  return e.token .. '|' .. e.leased .. '|' .. e.started .. '|' .. (e.cancel and '1' or '') ..
    '|' .. e.progress
end

-- Record a failed attempt's error: the latest in `error`, the last ERRORS_KEPT in `errors`.
local function add_error(rec, text)
  rec.o[F.error] = text
  local errors = rec.o[F.errors] or {}
  table.insert(errors, text)
  if #errors > ERRORS_KEPT then table.remove(errors, 1) end
  rec.o[F.errors] = errors
end

-- After a charged failure: RETRYING at retry_at while tries are left, else FAILED for good.
-- Returns the new state.
local function retry_or_fail(rec, raw, id, now, retry_at, retry_key, failed_key)
  local retried = rec.o[F.retried] or 0
  if retried < tonumber(header_field(raw, F.max_retry) or MAX_RETRY_DEFAULT) then
    rec.state = STATE.RETRYING
    rec.o[F.retried] = retried + 1
    set_time(rec, 'next_run_at', retry_at)
    redis.call('ZADD', retry_key, retry_at, id)
  else
    rec.state = STATE.FAILED
    set_time(rec, 'completed_at', now)
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

-- A job just ended COMPLETED or FAILED: push one token per registered waiter to its done list
-- (which expires: a token left by a waiter that gave up goes by itself), and put the job in the
-- outbox when it has a callback to deliver. `done_key` may be nil when the caller could not
-- name it (recover): the waiters' entry then stays, and the caller wakes them (wake);
-- `waiting_key` is nil when the caller knows that nobody waits for any job of the queue.
local function job_ended(raw, id, waiting_key, done_key, outbox_key)
  if done_key and waiting_key then
    local waiters = tonumber(redis.call('HGET', waiting_key, id) or 0)
    if waiters > 0 then
      redis.call('HDEL', waiting_key, id)
      for _ = 1, math.min(waiters, 1000) do redis.call('RPUSH', done_key, 1) end
      redis.call('EXPIRE', done_key, WAKE_TTL_S)
    end
  end
  if header_field(raw, F.callback) then redis.call('RPUSH', outbox_key, id) end
end

-- End a job FAILED because of a cancel (not counted as a failed attempt).
local function fail_cancelled(rec, id, now, failed_key)
  rec.state = STATE.FAILED
  rec.o[F.error] = CANCELLED
  rec.o[F.cancelled] = 1
  rec.o[F.next_run_at] = nil
  set_time(rec, 'completed_at', now)
  redis.call('ZADD', failed_key, now, id)
end

-- Hand an ACTIVE job back to the head of PENDING, untried: its lease was handed back, or its
-- dequeue's reply was lost. The record is untouched (it says PENDING while the job runs); a
-- cancel asked meanwhile stays, in an entry without a token, so the next worker skips the job.
local function back_to_pending_head(e, id, active_key, lease_key, pending_key)
  if e.cancel then
    redis.call('HSET', active_key, id, '|' .. e.leased .. '||1|')
  else
    redis.call('HDEL', active_key, id)
  end
  redis.call('ZREM', lease_key, id)
  redis.call('LPUSH', pending_key, id)
end
