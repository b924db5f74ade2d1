-- requeue: hand ACTIVE jobs back to the head of PENDING, untried (a worker stopping cleanly).
-- KEYS[1] jobs:{q}:active   HASH  ACTIVE id -> in-flight entry
-- KEYS[2] jobs:{q}:lease    ZSET
-- KEYS[3] jobs:{q}:pending  LIST
-- KEYS[4] jobs:{q}:wake     LIST
-- ARGV[1] lease token, ARGV[2..] ids in the order they were taken
-- Returns how many jobs went back (those whose lease this token still held).
local moved = 0
for i = #ARGV, 2, -1 do
  local id = ARGV[i]
  local e = entry_of(redis.call('HGET', KEYS[1], id))
  if e and e.token == ARGV[1] then
    back_to_pending_head(e, id, KEYS[1], KEYS[2], KEYS[3])
    moved = moved + 1
  end
end
if moved > 0 then rearm_wake(KEYS[4]) end
return moved
