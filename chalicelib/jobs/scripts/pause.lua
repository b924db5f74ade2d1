-- pause: stop (or let again) workers taking jobs from a queue; creating jobs still works.
-- KEYS[1] jobs:{q}:paused   STRING present while the queue is paused (dequeue reads it)
-- KEYS[2] jobs:{q}:pending  LIST
-- KEYS[3] jobs:{q}:wake     LIST  re-armed on resume, so an idle worker takes the backlog now
-- ARGV[1] '1' to pause, '0' to resume
-- Returns 1 when the queue's state changed, 0 when it already was so.
if ARGV[1] == '1' then
  return redis.call('SET', KEYS[1], 1, 'NX') and 1 or 0
end
local changed = redis.call('DEL', KEYS[1])
if changed == 1 and redis.call('LLEN', KEYS[2]) > 0 then rearm_wake(KEYS[3]) end
return changed
