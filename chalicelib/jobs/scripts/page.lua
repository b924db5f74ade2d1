-- page: one page of the jobs of one state, after a cursor, with their records.
-- The order is one a job keeps while it stays in its state, so pages never repeat or skip it:
-- PENDING in list order (ids leave the list at its head only, or by an operator's delete);
-- COMPLETED in list order too (ids leave at the head, or move from the head to the tail when
-- they keep their result longer than those behind them); ACTIVE by id (lease expiries move as
-- leases are extended); the other states by score (a time that does not change while the job
-- stays), then id.
-- KEYS[1] jobs:{q}:job     HASH
-- KEYS[2] the state's key: jobs:{q}:pending or results LIST, or jobs:{q}:lease / scheduled /
--         retry / failed ZSET
-- KEYS[3] jobs:{q}:active  HASH  ACTIVE id -> in-flight entry
-- ARGV[1] order: 'list', 'id' or 'score'; ARGV[2] most jobs on the page
-- ARGV[3] cursor score ('' for the first page; 'score' order only)
-- ARGV[4..] cursor ids: the last id of the previous page, then earlier ones of it as fallbacks
--           ('list' order: when the last one has left, the first still there marks the place)
-- Returns {id, score ('' unless 'score' order), record ('' when missing), in-flight entry (''
-- unless ACTIVE), ...} per job.
local order, limit, score = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local ids = {}
if order == 'list' then
  local start = 0
  for i = 4, #ARGV do
    local pos = redis.call('LPOS', KEYS[2], ARGV[i])
    if pos then start = pos + 1 break end
  end
  ids = redis.call('LRANGE', KEYS[2], start, start + limit - 1)
elseif order == 'id' then
  local after = ARGV[4]
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if after == nil or id > after then ids[#ids + 1] = id end
  end
  table.sort(ids)
  for i = #ids, limit + 1, -1 do ids[i] = nil end
else
  local start = 0
  if score ~= '' then
    local rank = redis.call('ZRANK', KEYS[2], ARGV[4])
    if rank and redis.call('ZSCORE', KEYS[2], ARGV[4]) == score then
      start = rank + 1
    else
      start = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. score)
      for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], score, score)) do
        if id <= ARGV[4] then start = start + 1 end
      end
    end
  end
  ids = redis.call('ZRANGE', KEYS[2], start, start + limit - 1)
end
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = order == 'score' and redis.call('ZSCORE', KEYS[2], id) or ''
  out[#out + 1] = redis.call('HGET', KEYS[1], id) or ''
  out[#out + 1] = order == 'id' and redis.call('HGET', KEYS[3], id) or ''
end
return out
