-- enqueue: store new jobs and make them PENDING (run now) or FUTURE (run later). A job with an
-- idempotency key whose key is already taken is not written again: the call answers the id of
-- the job that took it (same params), or refuses the whole call before writing anything
-- (different params).
-- KEYS[1] jobs:{q}:job        HASH  id -> record
-- KEYS[2] jobs:{q}:pending    LIST  ids ready to run
-- KEYS[3] jobs:{q}:scheduled  ZSET  FUTURE ids by run time
-- KEYS[4] jobs:{q}:wake       LIST  one token that wakes an idle worker (also for FUTURE jobs:
--                                    it then learns when they fall due)
-- KEYS[5] jobs:{q}:kick       STRING debounce of the worker kick
-- KEYS[6..] jobs:{q}:idem:<hash of the key>  STRING "<job id> <fingerprint>", one per job that
--                                    has an idempotency key, in the order of those jobs
-- ARGV[1] kick debounce in ms, 0 when no kick is wanted
-- ARGV[2] how long an idempotency key is kept, ms
-- ARGV[3..] per job, four values: id, record JSON (state already set), run_at s (0: now),
--           fingerprint of type and params ('' when the job has no idempotency key)
-- Returns {kick, answer per job}: kick is 1 when this call won the kick debounce (the caller
-- should kick a worker); each answer is '' for a job written, or the id of the job that already
-- holds its key. On a conflict, returns {-1, index of the job (1-based), id holding the key}.
local replays, key_of = {}, {}
local k = 5
for i = 3, #ARGV, 4 do
  local job = (i - 3) / 4 + 1
  local fingerprint = ARGV[i + 3]
  if fingerprint ~= '' then
    k = k + 1
    key_of[job] = KEYS[k]
    local held = redis.call('GET', KEYS[k])
    if held then
      local held_id, held_fingerprint = string.match(held, '^(%S+) (%S+)$')
      if held_fingerprint ~= fingerprint then return {-1, job, held_id} end
      replays[job] = held_id
    end
  end
end
local answers, pushed, written = {}, false, false
for i = 3, #ARGV, 4 do
  local job = (i - 3) / 4 + 1
  if replays[job] then
    answers[job] = replays[job]
  else
    local id, run_at = ARGV[i], tonumber(ARGV[i + 2])
    redis.call('HSET', KEYS[1], id, ARGV[i + 1])
    if run_at > 0 then
      redis.call('ZADD', KEYS[3], run_at, id)
    else
      redis.call('RPUSH', KEYS[2], id)
      pushed = true
    end
    if key_of[job] then
      redis.call('SET', key_of[job], id .. ' ' .. ARGV[i + 3], 'PX', ARGV[2])
    end
    answers[job] = ''
    written = true
  end
end
if written then rearm_wake(KEYS[4]) end
local kick = 0
if pushed and ARGV[1] ~= '0' and redis.call('SET', KEYS[5], 1, 'NX', 'PX', ARGV[1]) then
  kick = 1
end
table.insert(answers, 1, kick)
return answers
