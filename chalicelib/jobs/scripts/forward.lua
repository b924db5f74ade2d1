-- forward: move FUTURE and RETRYING jobs that are due to PENDING. Only the record's state digit
-- changes: nothing is decoded (its due time stays, and tells since when it is PENDING).
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:scheduled  ZSET
-- KEYS[3] jobs:{q}:retry      ZSET
-- KEYS[4] jobs:{q}:pending    LIST
-- KEYS[5] jobs:{q}:wake       LIST
-- ARGV[1] now s, ARGV[2] at most this many jobs per source set
-- Returns how many jobs became PENDING.
local moved = 0
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
  if #ids > 0 then
    call_many('ZREM', key, ids)
    local raws, records, due = hmget_many(KEYS[1], ids), {}, {}
    for n, id in ipairs(ids) do
      if raws[n] then
        records[#records + 1] = id
        records[#records + 1] = STATE.PENDING .. string.sub(raws[n], 2)
        due[#due + 1] = id
      end
    end
    call_many('HSET', KEYS[1], records)
    call_many('RPUSH', KEYS[4], due)
    moved = moved + #due
  end
end
if moved > 0 then rearm_wake(KEYS[5]) end
return moved
