-- extend: push back the lease expiry of ACTIVE jobs that this lease token still holds, record
-- the start of those whose handler began (an expired lease then charges the attempt) and the
-- handlers' latest progress reports, and tell which jobs a cancel was asked for. Only the
-- jobs' in-flight entries are read and written: no record is decoded.
-- KEYS[1] jobs:{q}:job     HASH
-- KEYS[2] jobs:{q}:lease   ZSET
-- KEYS[3] jobs:{q}:active  HASH  ACTIVE id -> in-flight entry
-- ARGV[1] new lease expiry s, ARGV[2] lease token, ARGV[3] now s
-- ARGV[4..] per job, three values: id, '1' when its start is to be recorded (else '0'), its
--           progress report JSON ('' for none)
-- Returns {id, 'lost' or 'cancel', ...}: 'lost' for each id this token no longer holds
-- (recovered and taken over, or deleted; a job this token already finished is not among
-- them: its outcome was written while this call was on its way), 'cancel' for each one a
-- cancel was asked for (held or not: a job cancelled after its lease expired is not started).
local out, token = {}, ARGV[2]
local settled_by_me = '"' .. F.token .. '":"' .. string.sub(token, 1, TOKEN_KEPT) .. '"'
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  local e = entry_of(redis.call('HGET', KEYS[3], id))
  if e and e.token == token then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], id)
    local changed = false
    if ARGV[i + 1] == '1' and e.started == '' then
      e.started = to_ms(tonumber(ARGV[3]))
      changed = true
    end
    if ARGV[i + 2] ~= '' then
      e.progress = ARGV[i + 2]
      changed = true
    end
    if changed then redis.call('HSET', KEYS[3], id, entry_value(e)) end
    if e.cancel then
      out[#out + 1] = id
      out[#out + 1] = 'cancel'
    end
  else
    -- not held by this token: it settled (by this token, or ended by a cancel), or was lost.
    -- The outcome is the record's third line, read by key without decoding.
    local outcome = outcome_line(redis.call('HGET', KEYS[1], id) or '')
    if string.find(outcome, '"' .. F.cancelled .. '":1', 1, true) then
      out[#out + 1] = id
      out[#out + 1] = 'cancel'
    elseif not (e == nil and string.find(outcome, settled_by_me, 1, true)) then
      out[#out + 1] = id
      out[#out + 1] = 'lost'
    end
  end
end
return out
