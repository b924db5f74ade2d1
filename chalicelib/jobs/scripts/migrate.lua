-- migrate: convert a queue from the layout before records were written once (one JSON object
-- per job, changed in place at every step): records rewritten in the current layout, each
-- only while it is still the value read (compare and set); the in-flight entries of its ACTIVE
-- jobs; and its COMPLETED ids moved from the old `completed` ZSET to the `results` LIST.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:active     HASH  ACTIVE id -> in-flight entry
-- KEYS[3] jobs:{q}:completed  ZSET  the old layout's COMPLETED ids by expiry
-- KEYS[4] jobs:{q}:results    LIST  COMPLETED ids, in order of completion
-- KEYS[5] jobs:{q}:stats      HASH  its field `layout` marks a queue converted
-- ARGV[1] at most this many ids moved from `completed` (in order of expiry)
-- ARGV[2] the layout's version, set in `stats` when nothing is left to convert ('' : not yet)
-- ARGV[3..] per record, four values: id, the value read, the value converted, the in-flight
--           entry ('' for none)
-- Returns {records converted, ids moved, ids left in `completed`}.
local converted = 0
for i = 3, #ARGV, 4 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    if ARGV[i + 3] ~= '' then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 3]) end
    converted = converted + 1
  end
end
local ids = redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[1]) - 1)
call_many('RPUSH', KEYS[4], ids)
call_many('ZREM', KEYS[3], ids)
local left = redis.call('ZCARD', KEYS[3])
if ARGV[2] ~= '' and left == 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[5], 'layout', ARGV[2])
end
return {converted, #ids, left}
