-- enqueue: store new jobs and make them PENDING (run now) or FUTURE (run later).
-- KEYS[1] jobs:{q}:job        HASH  id -> record
-- KEYS[2] jobs:{q}:pending    LIST  ids ready to run
-- KEYS[3] jobs:{q}:scheduled  ZSET  FUTURE ids by run time
-- KEYS[4] jobs:{q}:wake       LIST  one token that wakes an idle worker (also for FUTURE jobs:
--                                    it then learns when they fall due)
-- KEYS[5] jobs:{q}:kick       STRING debounce of the worker kick
-- ARGV[1] kick debounce in ms, 0 when no kick is wanted
-- ARGV[2..] per job, three values: id, record JSON (state already set), run_at s (0: now)
-- Returns 1 when this call won the kick debounce (the caller should kick a worker), else 0.
local pushed = false
for i = 2, #ARGV, 3 do
  local id, run_at = ARGV[i], tonumber(ARGV[i + 2])
  redis.call('HSET', KEYS[1], id, ARGV[i + 1])
  if run_at > 0 then
    redis.call('ZADD', KEYS[3], run_at, id)
  else
    redis.call('RPUSH', KEYS[2], id)
    pushed = true
  end
end
rearm_wake(KEYS[4])
if pushed and ARGV[1] ~= '0' and redis.call('SET', KEYS[5], 1, 'NX', 'PX', ARGV[1]) then
  return 1
end
return 0
