-- outbox: the oldest entries of the callback outbox, with their jobs' records (read only).
-- KEYS[1] jobs:{q}:outbox  LIST  ended jobs whose callback is still to be enqueued
-- KEYS[2] jobs:{q}:job     HASH
-- ARGV[1] at most this many entries
-- Returns id1, record1 (nil when the job is gone), id2, record2, ...
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
end
return out
