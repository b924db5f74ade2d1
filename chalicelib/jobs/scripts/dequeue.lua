-- dequeue: take up to N PENDING jobs, make them ACTIVE under a lease with a fresh token. Their
-- start is not recorded yet: a job whose lease expires before it is stays uncharged (recover).
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:pending    LIST
-- KEYS[3] jobs:{q}:lease      ZSET  ACTIVE ids by lease expiry
-- KEYS[4] jobs:{q}:scheduled  ZSET
-- KEYS[5] jobs:{q}:retry      ZSET
-- KEYS[6] jobs:{q}:wake       LIST  re-armed while jobs remain, so the next idle worker wakes too
-- KEYS[7] jobs:{q}:paused     STRING present while an operator has paused the queue: nothing is
--                                    taken (and the wake list is not re-armed)
-- ARGV[1] now s, ARGV[2] max jobs, ARGV[3] lease expiry s, ARGV[4] lease token
-- Returns {next_due, record JSON...}: next_due is the earliest time (s, as a string, '' for none)
-- at which a scheduled or retry job falls due or a lease expires, so the worker knows when
-- maintenance has work without polling for it.
local now, expiry, token = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[4]
local out = {''}
local paused = redis.call('EXISTS', KEYS[7]) == 1
local ids = not paused and redis.call('LPOP', KEYS[2], ARGV[2])
if ids then
  local raws, records, leases, seen = hmget_many(KEYS[1], ids), {}, {}, {}
  for n, id in ipairs(ids) do
    local raw = raws[n]
    -- an id listed twice in PENDING is taken once
    if raw and not seen[id] then
      seen[id] = true
      local rec = cjson.decode(raw)
      if rec.state == STATE.PENDING then
        rec.state = STATE.ACTIVE
        rec.token = token
        rec.leased_at = now
        rec.started_at = nil
        local encoded = cjson.encode(rec)
        records[#records + 1] = id
        records[#records + 1] = encoded
        leases[#leases + 1] = expiry
        leases[#leases + 1] = id
        out[#out + 1] = encoded
      end
    end
  end
  call_many('HSET', KEYS[1], records)
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
