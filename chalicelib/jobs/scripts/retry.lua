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
-- one of the three is left as it is and answers its state. Errors with LEGACY, having written
-- nothing, when a record is of an older layout.
local now = tonumber(ARGV[1])
local ids, batch = {}, #ARGV < 3
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
if batch then ids = redis.call('ZRANGE', KEYS[5], 0, tonumber(ARGV[2]) - 1) end
local from = {[STATE.FUTURE] = KEYS[3], [STATE.RETRYING] = KEYS[4], [STATE.FAILED] = KEYS[5]}
local out, moved = {0}, 0
local raws = hmget_many(KEYS[1], ids)
for n = 1, #ids do
  if is_legacy(raws[n]) then return redis.error_reply(LEGACY) end
end
for n, id in ipairs(ids) do
  local raw = raws[n]
  local code = raw and state_of(raw) or 0
  if raw and from[code] then
    redis.call('ZREM', from[code], id)
    local rec = settling(raw)
    if code == STATE.FAILED then rec.o[F.retried] = nil end
    rec.state = STATE.PENDING
    rec.o[F.next_run_at] = nil
    rec.o[F.completed_at] = nil
    set_time(rec, 'pending_since', now)
    redis.call('HSET', KEYS[1], id, encode(rec))
    redis.call('RPUSH', KEYS[2], id)
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
