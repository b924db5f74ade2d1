-- delete: an operator's delete of a job in any state but ACTIVE (a worker holds that one).
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:pending    LIST
-- KEYS[3] jobs:{q}:scheduled  ZSET
-- KEYS[4] jobs:{q}:retry      ZSET
-- KEYS[5] jobs:{q}:failed     ZSET
-- KEYS[6] jobs:{q}:results    LIST  COMPLETED ids
-- KEYS[7] jobs:{q}:waiting    HASH  id -> how many waiters wait for the job's end
-- KEYS[8] jobs:{q}:done:<id>  LIST  its waiters' wake-up list: they wake and find it gone
-- KEYS[9] jobs:{q}:active     HASH  ACTIVE id -> in-flight entry
-- ARGV[1] id
-- Returns the state the job was in (deleted unless it is STATE.ACTIVE), 0 when there is none;
-- errors with LEGACY, having written nothing, for a record of an older layout.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if is_legacy(raw) then return redis.error_reply(LEGACY) end
local e = entry_of(redis.call('HGET', KEYS[9], ARGV[1]))
if e and e.token ~= '' then return STATE.ACTIVE end
local state = state_of(raw)
local sets = {[STATE.FUTURE] = KEYS[3], [STATE.RETRYING] = KEYS[4], [STATE.FAILED] = KEYS[5]}
if state == STATE.PENDING then
  redis.call('LREM', KEYS[2], 1, ARGV[1])
elseif state == STATE.COMPLETED then
  redis.call('LREM', KEYS[6], 1, ARGV[1])
else
  redis.call('ZREM', sets[state], ARGV[1])
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[9], ARGV[1])
local waiters = tonumber(redis.call('HGET', KEYS[7], ARGV[1]) or 0)
if waiters > 0 then
  redis.call('HDEL', KEYS[7], ARGV[1])
  for _ = 1, math.min(waiters, 1000) do redis.call('RPUSH', KEYS[8], 1) end
  redis.call('EXPIRE', KEYS[8], WAKE_TTL_S)
end
return state
