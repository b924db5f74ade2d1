-- finish: write a batch of outcomes of ACTIVE jobs: COMPLETED, FAILED, or RETRYING by the retry
-- rules. Each job's in-flight entry goes; its record is rewritten once, settled.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:lease      ZSET
-- KEYS[3] jobs:{q}:results    LIST  COMPLETED ids, in order of completion
-- KEYS[4] jobs:{q}:retry      ZSET
-- KEYS[5] jobs:{q}:failed     ZSET  FAILED ids by time of failure
-- KEYS[6] jobs:{q}:stats      HASH  processed / failed counters, in total and per day
-- KEYS[7] jobs:{q}:wake       LIST  woken when a retry is scheduled, so idle workers learn when
--                                    it falls due
-- KEYS[8] jobs:{q}:waiting    HASH  id -> how many waiters wait for the job's end
-- KEYS[9] jobs:{q}:outbox     LIST  ended jobs whose callback is still to be enqueued
-- KEYS[10] jobs:{q}:active    HASH  ACTIVE id -> in-flight entry
-- KEYS[11..] jobs:{q}:done:<id>  LIST  each outcome's job's waiters' wake-up list
-- ARGV[1] now s, ARGV[2] retention s (a record's own `retention` wins), ARGV[3] day (YYYY-MM-DD)
-- ARGV[4..] per outcome, seven values: id, lease token, outcome (OUTCOME.*), payload (result
--           JSON for DONE, error text otherwise), retry_at s (for RETRY and DEFER), index in
--           KEYS of its done list, and the handler's latest progress report (JSON, '' for none)
-- A unique job's lock is not touched: a lock whose job ended holds nothing (enqueue).
-- A job a cancel was asked for ends FAILED (error CANCELLED, `cancelled`) unless it completed.
-- Returns one state code per outcome: the job's new state; the same again when this very
-- outcome was already written (a call repeated after its reply was lost); 0 when the job is no
-- longer this lease's (its lease expired and it was recovered), and then nothing was written.
-- The record keeps the start of the token of the attempt that ended it: so a repeat is known.
local now, retention, day = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
-- most batches end jobs nobody waits for: then no job's waiters are looked up
local waiting = redis.call('EXISTS', KEYS[8]) == 1 and KEYS[8] or nil
local tally = {processed = 0, failed = 0, retrying = false, completions = {}}

-- Settle one held job by its outcome; returns its new state.
local function settle(rec, raw, e, id, i)
  local outcome, payload = ARGV[i + 2], ARGV[i + 3]
  rec.o[F.token] = string.sub(ARGV[i + 1], 1, TOKEN_KEPT)
  if outcome ~= OUTCOME.DEFER then
    rec.o[F.started_at] = tonumber(e.started ~= '' and e.started or e.leased) - rec.created
  end
  local progress = ARGV[i + 6] ~= '' and ARGV[i + 6] or e.progress
  if progress ~= '' then rec.o[F.progress] = progress end
  if e.cancel and outcome ~= OUTCOME.DONE then
    fail_cancelled(rec, id, now, KEYS[5])
  elseif outcome == OUTCOME.DEFER then
    rec.state = STATE.RETRYING
    set_time(rec, 'next_run_at', tonumber(ARGV[i + 4]))
    redis.call('ZADD', KEYS[4], ARGV[i + 4], id)
    tally.retrying = true
  elseif outcome == OUTCOME.DONE then
    tally.processed = tally.processed + 1
    rec.state = STATE.COMPLETED
    rec.o[F.error] = nil  -- the errors of earlier attempts stay
    rec.o[F.next_run_at] = nil
    rec.result = payload
    set_time(rec, 'completed_at', now)
    local kept_ms = to_ms(tonumber(header_field(raw, F.retention) or retention))
    rec.o[F.kept_ms] = kept_ms ~= KEPT_DEFAULT_MS and kept_ms or nil
    tally.completions[#tally.completions + 1] = id
  else
    tally.processed = tally.processed + 1
    tally.failed = tally.failed + 1
    add_error(rec, payload)
    if outcome == OUTCOME.RETRY then
      retry_or_fail(rec, raw, id, now, tonumber(ARGV[i + 4]), KEYS[4], KEYS[5])
      tally.retrying = tally.retrying or rec.state == STATE.RETRYING
    else
      rec.state = STATE.FAILED
      set_time(rec, 'completed_at', now)
      redis.call('ZADD', KEYS[5], now, id)
    end
  end
  return rec.state
end

-- every outcome's record and entry read in one call each, settled here, and written back in
-- one call; an id twice in a batch (a repeat) sees the record as its first outcome left it
local ids = {}
for i = 4, #ARGV, 7 do ids[#ids + 1] = ARGV[i] end
local raws, held = hmget_many(KEYS[1], ids), hmget_many(KEYS[10], ids)
local recs, entries, written, ended = {}, {}, {}, {}
for n, id in ipairs(ids) do
  if recs[id] == nil then
    recs[id] = raws[n] and {raw = raws[n]} or false
    entries[id] = entry_of(held[n]) or false
  end
end
local codes = {}
for i = 4, #ARGV, 7 do
  local id, token = ARGV[i], ARGV[i + 1]
  local slot, e, code = recs[id], entries[id], 0
  if slot and e and e.token == token then
    local rec = settling(slot.raw)
    code = settle(rec, slot.raw, e, id, i)
    if rec.o[F.started_at] == rec.o[F.completed_at] then rec.o[F.started_at] = nil end
    slot.rec, entries[id] = rec, false
    ended[#ended + 1] = id
    written[#written + 1] = id
    written[#written + 1] = encode(rec)
    if code == STATE.COMPLETED or code == STATE.FAILED then
      job_ended(slot.raw, id, waiting, KEYS[tonumber(ARGV[i + 5])], KEYS[9])
    end
  elseif slot and not e then
    local rec = slot.rec or settling(slot.raw)
    if rec.o[F.token] == string.sub(token, 1, TOKEN_KEPT) then code = rec.state end
  end
  codes[#codes + 1] = code
end
call_many('HSET', KEYS[1], written)
call_many('HDEL', KEYS[10], ended)
call_many('ZREM', KEYS[2], ended)
call_many('RPUSH', KEYS[3], tally.completions)
count(KEYS[6], day, tally.processed, tally.failed)
if tally.retrying then rearm_wake(KEYS[7]) end
return codes
