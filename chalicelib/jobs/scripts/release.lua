-- release: undo a dequeue whose reply the worker never got (Redis stalled, the call timed out,
-- yet the server ran it later). Its jobs, still ACTIVE under the lost token and never started,
-- go back to the head of PENDING untried, at once rather than when their lease expires.
-- KEYS[1] jobs:{q}:active   HASH  ACTIVE id -> in-flight entry
-- KEYS[2] jobs:{q}:lease    ZSET  the lost batch's ids all carry the lease expiry of that call
-- KEYS[3] jobs:{q}:pending  LIST
-- KEYS[4] jobs:{q}:wake     LIST
-- ARGV[1] lease token of the lost dequeue, ARGV[2] the lease expiry s it was called with
-- Returns how many jobs went back.
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[2])
local moved = 0
for i = #ids, 1, -1 do
  local id = ids[i]
  local e = entry_of(redis.call('HGET', KEYS[1], id))
  if e and e.token == ARGV[1] and e.started == '' then
    back_to_pending_head(e, id, KEYS[1], KEYS[2], KEYS[3])
    moved = moved + 1
  end
end
if moved > 0 then rearm_wake(KEYS[4]) end
return moved
