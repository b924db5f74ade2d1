-- extend: push back the lease expiry of ACTIVE jobs that this lease token still holds, record
-- the start of those whose handler began (an expired lease then charges the attempt) and the
-- handlers' latest progress reports, and tell which jobs a cancel was asked for.
-- KEYS[1] jobs:{q}:job    HASH
-- KEYS[2] jobs:{q}:lease  ZSET
-- ARGV[1] new lease expiry s, ARGV[2] lease token, ARGV[3] now s
-- ARGV[4..] per job, three values: id, '1' when its start is to be recorded (else '0'), its
--           progress report JSON ('' for none)
-- Returns {id, 'lost' or 'cancel', ...}: 'lost' for each id this token no longer holds
-- (recovered and taken over, or deleted; a job this token already finished is not among
-- them: its outcome was written while this call was on its way), 'cancel' for each one a
-- cancel was asked for (held or not: a job cancelled after its lease expired is not started).
local out = {}
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], id)
  local rec = raw and cjson.decode(raw)
  if rec and rec.state == STATE.ACTIVE and rec.token == ARGV[2] then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], id)
    local changed = false
    if ARGV[i + 1] == '1' and not rec.started_at then
      rec.started_at = tonumber(ARGV[3])
      changed = true
    end
    if ARGV[i + 2] ~= '' then
      rec.progress = ARGV[i + 2]
      changed = true
    end
    if changed then redis.call('HSET', KEYS[1], id, cjson.encode(rec)) end
    if rec.cancel then
      out[#out + 1] = id
      out[#out + 1] = 'cancel'
    end
  elseif rec and rec.cancelled then
    out[#out + 1] = id
    out[#out + 1] = 'cancel'
  elseif not (rec and rec.token == ARGV[2]) then
    out[#out + 1] = id
    out[#out + 1] = 'lost'
  end
end
return out
