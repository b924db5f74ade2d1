-- extend: push back the lease expiry of ACTIVE jobs that this lease token still holds, and
-- record the start of those whose handler began (an expired lease then charges the attempt).
-- KEYS[1] jobs:{q}:job    HASH
-- KEYS[2] jobs:{q}:lease  ZSET
-- ARGV[1] new lease expiry s, ARGV[2] lease token, ARGV[3] now s
-- ARGV[4..] per job, two values: id, '1' when its start is to be recorded (else '0')
-- Returns the ids this token no longer holds (recovered and taken over, or deleted); a job this
-- token already finished is not among them (its outcome was written while this call was on
-- its way).
local lost = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], id)
  local rec = raw and cjson.decode(raw)
  if rec and rec.state == STATE.ACTIVE and rec.token == ARGV[2] then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], id)
    if ARGV[i + 1] == '1' and not rec.started_at then
      rec.started_at = tonumber(ARGV[3])
      redis.call('HSET', KEYS[1], id, cjson.encode(rec))
    end
  elseif not (rec and rec.token == ARGV[2]) then
    lost[#lost + 1] = id
  end
end
return lost
