-- wait: a client's wait for a job's end: read the job's record, and register (ARGV[2] = 1) or
-- deregister (-1) one waiter. A job already COMPLETED or FAILED gets no registration: the
-- scripts that end a job push one token per registered waiter to its done list.
-- KEYS[1] jobs:{q}:job      HASH
-- KEYS[2] jobs:{q}:waiting  HASH  id -> how many waiters wait for the job's end
-- KEYS[3] jobs:{q}:active   HASH  ACTIVE id -> in-flight entry
-- ARGV[1] id, ARGV[2] 1 (register) or -1 (a waiter that gave up)
-- Returns {record, in-flight entry or false}, or false when there is no such job.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  if not raw then return false end
  local state = state_of(raw)
  if state ~= STATE.COMPLETED and state ~= STATE.FAILED then
    redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  end
elseif redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
if not raw then return false end
return {raw, redis.call('HGET', KEYS[3], ARGV[1])}
