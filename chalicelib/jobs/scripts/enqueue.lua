-- enqueue: store new jobs and make them PENDING (run now) or FUTURE (run later). A job with an
-- idempotency key whose key is already taken is not written again: the call answers the id of
-- the job that took it (same params), or refuses the whole call before writing anything
-- (different params); a key whose job was deleted is free again. A unique job (unique_for)
-- whose lock is held by a job not yet ended refuses the whole call too, before writing
-- anything. The first jobs of a queue mark it as in this layout (nothing to convert).
-- KEYS[1] jobs:{q}:job        HASH  id -> record
-- KEYS[2] jobs:{q}:pending    LIST  ids ready to run
-- KEYS[3] jobs:{q}:scheduled  ZSET  FUTURE ids by run time
-- KEYS[4] jobs:{q}:wake       LIST  one token that wakes an idle worker (also for FUTURE jobs:
--                                    it then learns when they fall due)
-- KEYS[5] jobs:{q}:kick       STRING debounce of the worker kick
-- KEYS[6] jobs:{q}:stats      HASH  its field `layout` marks a queue in this layout
-- KEYS[7..] jobs:{q}:idem:<hash of the key>  STRING "<job id> <fingerprint>", and
--           jobs:{q}:unique:<hash of type and params>  STRING the id of the job holding the
--           lock; each job names its own in ARGV
-- ARGV[1] kick debounce in ms, 0 when no kick is wanted
-- ARGV[2] how long an idempotency key is kept, ms
-- ARGV[3..] per job, seven values: id, record (record.py; state already set), run_at s (0: now),
--           fingerprint of type and params ('' when the job has no idempotency key), index in
--           KEYS of its idempotency key (0: none), index in KEYS of its unique lock (0: none),
--           how long the unique lock is held at most, ms
-- Returns {kick, answer per job}: kick is 1 when this call won the kick debounce (the caller
-- should kick a worker); each answer is '' for a job written, or the id of the job that already
-- holds its key. On a conflict, returns {-1, index of the job (1-based), id holding the key};
-- when unique jobs are duplicates, {-2, index of a job, id holding its lock, ...}.
local replays, duplicates = {}, {}
for i = 3, #ARGV, 7 do
  local job = (i - 3) / 7 + 1
  local idem = tonumber(ARGV[i + 4])
  if idem > 0 then
    local held = redis.call('GET', KEYS[idem])
    local held_id, held_fingerprint
    if held then held_id, held_fingerprint = string.match(held, '^(%S+) (%S+)$') end
    -- a key whose job was deleted holds nothing: the create goes ahead and takes it
    if held_id and redis.call('HEXISTS', KEYS[1], held_id) == 1 then
      if held_fingerprint ~= ARGV[i + 3] then return {-1, job, held_id} end
      replays[job] = held_id
    end
  end
  local lock = tonumber(ARGV[i + 5])
  if lock > 0 and not replays[job] then
    local holder = redis.call('GET', KEYS[lock])
    local raw = holder and redis.call('HGET', KEYS[1], holder)
    local state = raw and state_of(raw)
    -- a lock whose job ended (and was not released) or is gone holds nothing
    if state and state ~= STATE.COMPLETED and state ~= STATE.FAILED then
      duplicates[#duplicates + 1] = job
      duplicates[#duplicates + 1] = holder
    end
  end
end
if #duplicates > 0 then
  table.insert(duplicates, 1, -2)
  return duplicates
end
local answers, pushed, written = {}, false, false
local fresh = redis.call('EXISTS', KEYS[1]) == 0
for i = 3, #ARGV, 7 do
  local job = (i - 3) / 7 + 1
  if replays[job] then
    answers[job] = replays[job]
  else
    local id, run_at = ARGV[i], tonumber(ARGV[i + 2])
    local idem, lock = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
    redis.call('HSET', KEYS[1], id, ARGV[i + 1])
    if run_at > 0 then
      redis.call('ZADD', KEYS[3], run_at, id)
    else
      redis.call('RPUSH', KEYS[2], id)
      pushed = true
    end
    if idem > 0 then
      redis.call('SET', KEYS[idem], id .. ' ' .. ARGV[i + 3], 'PX', ARGV[2])
    end
    if lock > 0 then redis.call('SET', KEYS[lock], id, 'PX', ARGV[i + 6]) end
    answers[job] = ''
    written = true
  end
end
if written then rearm_wake(KEYS[4]) end
if written and fresh then redis.call('HSET', KEYS[6], 'layout', LAYOUT) end
local kick = 0
if pushed and ARGV[1] ~= '0' and redis.call('SET', KEYS[5], 1, 'NX', 'PX', ARGV[1]) then
  kick = 1
end
table.insert(answers, 1, kick)
return answers
