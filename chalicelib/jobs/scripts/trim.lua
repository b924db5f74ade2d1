-- trim: delete COMPLETED jobs past their retention, and FAILED jobs past their age or count cap.
-- COMPLETED ids are listed in order of completion, which is the order of expiry unless a job
-- keeps its result longer than those after it: such a job, found at the head before it
-- expires, moves to the tail, so it never holds back the trimming of those behind it.
-- KEYS[1] jobs:{q}:job      HASH
-- KEYS[2] jobs:{q}:results  LIST  COMPLETED ids, in order of completion
-- KEYS[3] jobs:{q}:failed   ZSET
-- ARGV[1] now s, ARGV[2] oldest failure time kept s, ARGV[3] most FAILED jobs kept,
-- ARGV[4] at most this many deletions per set
-- Returns how many jobs were deleted.
local now_ms, limit = math.floor(tonumber(ARGV[1]) * 1000), tonumber(ARGV[4])

-- when a COMPLETED job's result expires (ms), read from its record without decoding; a
-- record that is gone expires now
local function expiry(id)
  local raw = id and redis.call('HGET', KEYS[1], id)
  if not raw then return now_ms end
  local outcome = outcome_line(raw)
  local completed = string.match(outcome, '"' .. F.completed_at .. '":(%-?%d+)')
  local kept = string.match(outcome, '"' .. F.kept_ms .. '":(%-?%d+)')
  return tonumber(header_field(raw, F.created_at)) + EPOCH_MS + tonumber(completed or 0) +
    tonumber(kept or KEPT_DEFAULT_MS)
end

local deleted, moved = 0, 0
while deleted < limit and moved < limit do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then break end
  local expires = expiry(head)
  if expires <= now_ms then
    redis.call('HDEL', KEYS[1], head)
    redis.call('LPOP', KEYS[2])
    deleted = deleted + 1
  elseif expires > expiry(redis.call('LINDEX', KEYS[2], -1)) then
    redis.call('LMOVE', KEYS[2], KEYS[2], 'LEFT', 'RIGHT')
    moved = moved + 1
  else
    break
  end
end

local function drop(zset, ids)
  for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', zset, id)
  end
  return #ids
end
deleted = deleted + drop(KEYS[3],
  redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2], 'LIMIT', 0, limit))
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[3])
if excess > 0 then
  deleted = deleted + drop(KEYS[3], redis.call('ZRANGE', KEYS[3], 0, math.min(excess, limit) - 1))
end
return deleted
