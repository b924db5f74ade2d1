-- wake: wake the waiters of jobs that ended where the ending script could not name their done
-- lists (recover).
-- KEYS[1] jobs:{q}:waiting     HASH  id -> how many waiters wait for the job's end
-- KEYS[2..] jobs:{q}:done:<id>  LIST  one per id in ARGV
-- ARGV[1..] the ids of the jobs that ended
-- Returns how many waiters were woken.
local woken = 0
for i, id in ipairs(ARGV) do
  local waiters = tonumber(redis.call('HGET', KEYS[1], id) or 0)
  if waiters > 0 then
    redis.call('HDEL', KEYS[1], id)
    for _ = 1, math.min(waiters, 1000) do redis.call('RPUSH', KEYS[i + 1], 1) end
    redis.call('EXPIRE', KEYS[i + 1], WAKE_TTL_S)
    woken = woken + waiters
  end
end
return woken
