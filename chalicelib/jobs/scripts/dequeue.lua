-- dequeue: take up to N PENDING jobs, make them ACTIVE under a lease with a fresh token: each
-- gets an entry in the active hash; its record is not touched (nor decoded). Their start is not
-- recorded yet: a job whose lease expires before it is stays uncharged (recover).
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:pending    LIST
-- KEYS[3] jobs:{q}:lease      ZSET  ACTIVE ids by lease expiry
-- KEYS[4] jobs:{q}:scheduled  ZSET
-- KEYS[5] jobs:{q}:retry      ZSET
-- KEYS[6] jobs:{q}:wake       LIST  re-armed while jobs remain, so the next idle worker wakes too
-- KEYS[7] jobs:{q}:paused     STRING present while an operator has paused the queue: nothing is
--                                    taken (and the wake list is not re-armed)
-- KEYS[8] jobs:{q}:active     HASH  ACTIVE id -> in-flight entry (record.py, ActiveEntry)
-- ARGV[1] now s, ARGV[2] max jobs, ARGV[3] lease expiry s, ARGV[4] lease token
-- Returns {next_due, id, record, cancel ('1' or ''), ...}: next_due is the earliest time (s, as
-- a string, '' for none) at which a scheduled or retry job falls due or a lease expires, so the
-- worker knows when maintenance has work without polling for it; cancel is '1' for a job a
-- cancel was asked for while an earlier worker held it (it is not to be started).
-- The in-flight entries are the first write: a Redis before 7 (which cannot read the script's
-- flags) refuses the script there, with nothing written, while it is over maxmemory.
local expiry, want = tonumber(ARGV[3]), tonumber(ARGV[2])
local out = {''}
local paused = redis.call('EXISTS', KEYS[7]) == 1
local ids = not paused and want > 0 and redis.call('LRANGE', KEYS[2], 0, want - 1)
if ids and #ids > 0 then
  local raws, held = hmget_many(KEYS[1], ids), hmget_many(KEYS[8], ids)
  local fresh = ARGV[4] .. '|' .. to_ms(tonumber(ARGV[1])) .. '||'
  local entries, leases, seen = {}, {}, {}
  for n, id in ipairs(ids) do
    local raw, entry = raws[n], entry_of(held[n])
    -- an id listed twice in PENDING, or already held, is taken once
    if raw and not seen[id] and not (entry and entry.token ~= '') and
        state_of(raw) == STATE.PENDING then
      seen[id] = true
      local cancel = entry and entry.cancel and '1' or ''
      entries[#entries + 1] = id
      entries[#entries + 1] = fresh .. cancel .. '|'
      leases[#leases + 1] = expiry
      leases[#leases + 1] = id
      out[#out + 1] = id
      out[#out + 1] = raw
      out[#out + 1] = cancel
    end
  end
  call_many('HSET', KEYS[8], entries)
  redis.call('LTRIM', KEYS[2], #ids, -1)
  call_many('ZADD', KEYS[3], leases)
end
if not paused and redis.call('LLEN', KEYS[2]) > 0 then rearm_wake(KEYS[6]) end
local due = nil
for _, key in ipairs({KEYS[3], KEYS[4], KEYS[5]}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local score = tonumber(first[2])
    if due == nil or score < due then due = score end
  end
end
if due then out[1] = tostring(due) end
return out
