-- extend: push back the lease expiry of ACTIVE jobs that this lease token still holds.
-- KEYS[1] jobs:{q}:job    HASH
-- KEYS[2] jobs:{q}:lease  ZSET
-- ARGV[1] new lease expiry s, ARGV[2] lease token, ARGV[3..] ids
-- Returns the ids this token no longer holds (recovered and taken over, or deleted).
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], id)
  local rec = raw and cjson.decode(raw)
  if rec and rec.state == STATE.ACTIVE and rec.token == ARGV[2] then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], id)
  else
    lost[#lost + 1] = id
  end
end
return lost
