-- retry: an operator's retry: FAILED, RETRYING or FUTURE jobs become PENDING now. A FAILED job
-- keeps its errors and gets a fresh retry budget (retried back to 0); the others keep theirs.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:pending    LIST
-- KEYS[3] jobs:{q}:scheduled  ZSET
-- KEYS[4] jobs:{q}:retry      ZSET
-- KEYS[5] jobs:{q}:failed     ZSET
-- KEYS[6] jobs:{q}:wake       LIST
-- ARGV[1] now s, ARGV[2] at most this many jobs (FAILED ones, oldest first) when no ids follow
-- ARGV[3..] ids (none: every FAILED job of the queue, up to ARGV[2])
-- Returns {moved, state of each id (0: no such job)}: with ids, an id whose state is not
-- one of the three is left as it is and answers its state.
local now = tonumber(ARGV[1])
local ids, batch = {}, #ARGV < 3
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
if batch then ids = redis.call('ZRANGE', KEYS[5], 0, tonumber(ARGV[2]) - 1) end
local from = {[STATE.FUTURE] = KEYS[3], [STATE.RETRYING] = KEYS[4], [STATE.FAILED] = KEYS[5]}
local out, moved = {0}, 0
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  local rec = raw and cjson.decode(raw)
  local code = rec and rec.state or 0
  if rec and from[rec.state] then
    redis.call('ZREM', from[rec.state], id)
    if rec.state == STATE.FAILED then rec.retried = 0 end
    make_pending(rec, id, now, KEYS[2])
    redis.call('HSET', KEYS[1], id, cjson.encode(rec))
    moved = moved + 1
    code = STATE.PENDING
  elseif batch then
    redis.call('ZREM', KEYS[5], id)  -- not a FAILED job (deleted meanwhile): not one to keep
  end
  if not batch then out[#out + 1] = code end
end
if moved > 0 then rearm_wake(KEYS[6]) end
out[1] = moved
return out
