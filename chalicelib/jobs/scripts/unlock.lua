-- unlock: release the unique locks of jobs that ended for good where the ending script could not
-- name the lock (recover), each only while its job still holds it.
-- KEYS[1..] jobs:{q}:unique:<hash>  STRING  the id of the job holding the lock
-- ARGV[1..] the id of the job that ended, one per key
-- Returns how many locks were released.
local released = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
