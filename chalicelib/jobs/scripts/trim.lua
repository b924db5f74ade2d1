-- trim: delete COMPLETED jobs past their retention, and FAILED jobs past their age or count cap.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:completed  ZSET
-- KEYS[3] jobs:{q}:failed     ZSET
-- ARGV[1] now s, ARGV[2] oldest failure time kept s, ARGV[3] most FAILED jobs kept,
-- ARGV[4] at most this many deletions per set
-- Returns how many jobs were deleted.
local function drop(zset, ids)
  for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', zset, id)
  end
  return #ids
end
local limit = tonumber(ARGV[4])
local deleted = drop(KEYS[2], redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit))
deleted = deleted + drop(KEYS[3],
  redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2], 'LIMIT', 0, limit))
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[3])
if excess > 0 then
  deleted = deleted + drop(KEYS[3], redis.call('ZRANGE', KEYS[3], 0, math.min(excess, limit) - 1))
end
return deleted
