-- finish: write a batch of outcomes of ACTIVE jobs: COMPLETED, FAILED, or RETRYING by the retry rules.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:lease      ZSET
-- KEYS[3] jobs:{q}:completed  ZSET  COMPLETED ids by expiry of their retention
-- KEYS[4] jobs:{q}:retry      ZSET
-- KEYS[5] jobs:{q}:failed     ZSET  FAILED ids by time of failure
-- KEYS[6] jobs:{q}:stats      HASH  processed / failed counters, in total and per day
-- KEYS[7] jobs:{q}:wake       LIST  woken when a retry is scheduled, so idle workers learn when
--                                    it falls due
-- KEYS[8] jobs:{q}:waiting    HASH  id -> how many waiters wait for the job's end
-- KEYS[9] jobs:{q}:outbox     LIST  ended jobs whose callback is still to be enqueued
-- KEYS[10..] jobs:{q}:unique:<hash>  STRING  the unique locks of the outcomes' jobs that have one,
--            and jobs:{q}:done:<id>  LIST  each outcome's job's waiters' wake-up list
-- ARGV[1] now s, ARGV[2] retention s (a record's own `retention` wins), ARGV[3] day (YYYY-MM-DD)
-- ARGV[4..] per outcome, eight values: id, lease token, outcome (OUTCOME.*), payload (result
--           JSON for DONE, error text otherwise), retry_at s (for RETRY and DEFER), index in
--           KEYS of its job's unique lock (0: none), released when the job ends COMPLETED or
--           FAILED, index in KEYS of its done list, and the handler's latest progress
--           report (JSON, '' for none)
-- A job a cancel was asked for ends FAILED (error CANCELLED, `cancelled`) unless it completed.
-- Returns one state code per outcome: the job's new state; the same again when this very
-- outcome was already written (a call repeated after its reply was lost); 0 when the job is no
-- longer this lease's (its lease expired and it was recovered), and then nothing was written.
-- The record keeps the token of the attempt that ended it, which is how a repeat is known.
local now, retention, day = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
-- most batches end jobs nobody waits for: then no job's waiters are looked up
local waiting = redis.call('EXISTS', KEYS[8]) == 1 and KEYS[8] or nil
local codes, processed, failed, retrying = {}, 0, 0, false
-- every outcome's record read in one call, changed here, and written back in one call; an id
-- twice in a batch (a repeat) sees the record as its first outcome left it
local ids = {}
for i = 4, #ARGV, 8 do ids[#ids + 1] = ARGV[i] end
local raws, recs, changed, ended_leases, completions = hmget_many(KEYS[1], ids), {}, {}, {}, {}
for n, id in ipairs(ids) do
  if raws[n] and recs[id] == nil then recs[id] = cjson.decode(raws[n]) end
end
for i = 4, #ARGV, 8 do
  local id, token, outcome, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local code = 0
  local rec = recs[id]
  if rec and rec.token == token and rec.state ~= STATE.ACTIVE then
    code = rec.state
  elseif rec and rec.state == STATE.ACTIVE and rec.token == token then
    ended_leases[#ended_leases + 1] = id
    if outcome ~= OUTCOME.DEFER then rec.started_at = rec.started_at or rec.leased_at end
    if ARGV[i + 7] ~= '' then rec.progress = ARGV[i + 7] end
    if rec.cancel and outcome ~= OUTCOME.DONE then
      fail_cancelled(rec, id, now, KEYS[5])
    elseif outcome == OUTCOME.DEFER then
      rec.state = STATE.RETRYING
      rec.next_run_at = tonumber(ARGV[i + 4])
      redis.call('ZADD', KEYS[4], rec.next_run_at, id)
      retrying = true
    elseif outcome == OUTCOME.DONE then
      processed = processed + 1
      rec.state = STATE.COMPLETED
      rec.error = nil  -- the errors of earlier attempts stay in rec.errors
      rec.result = payload
      rec.completed_at = now
      rec.expires_at = now + (rec.retention or retention)
      completions[#completions + 1] = rec.expires_at
      completions[#completions + 1] = id
    else
      processed = processed + 1
      failed = failed + 1
      add_error(rec, payload)
      if outcome == OUTCOME.RETRY then
        retry_or_fail(rec, id, now, tonumber(ARGV[i + 4]), KEYS[4], KEYS[5])
        retrying = retrying or rec.state == STATE.RETRYING
      else
        rec.state = STATE.FAILED
        rec.completed_at = now
        redis.call('ZADD', KEYS[5], now, id)
      end
    end
    code = rec.state
    local lock = tonumber(ARGV[i + 5])
    if code == STATE.COMPLETED or code == STATE.FAILED then
      if lock > 0 then release_unique(KEYS[lock], id) end
      job_ended(rec, id, waiting, KEYS[tonumber(ARGV[i + 6])], KEYS[9])
    end
    changed[id] = true
  end
  codes[#codes + 1] = code
end
local records = {}
for id in pairs(changed) do
  records[#records + 1] = id
  records[#records + 1] = cjson.encode(recs[id])
end
call_many('HSET', KEYS[1], records)
call_many('ZREM', KEYS[2], ended_leases)
call_many('ZADD', KEYS[3], completions)
count(KEYS[6], day, processed, failed)
if retrying then rearm_wake(KEYS[7]) end
return codes
