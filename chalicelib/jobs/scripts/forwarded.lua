-- forwarded: outbox entries a worker turned into deliveries (or found nothing to deliver for)
-- leave the outbox, and each job records the id of its delivery. An entry whose job ended
-- again after it was read stays: that newer end is still to be delivered.
-- KEYS[1] jobs:{q}:outbox  LIST
-- KEYS[2] jobs:{q}:job     HASH
-- ARGV triples: id, its completed_at (s) as read ('' when unknown), its delivery's id ('' for
-- none)
-- Returns how many jobs left the outbox.
local removed = 0
for i = 1, #ARGV, 3 do
  local id, ended_at, delivery = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[2], id)
  local state = raw and state_of(raw)
  local rec = (state == STATE.COMPLETED or state == STATE.FAILED) and settling(raw)
  local ended_ms = rec and rec.o[F.completed_at] and rec.created + rec.o[F.completed_at]
  if not (rec and ended_at and ended_ms ~= math.floor(ended_at * 1000 + 0.5)) then
    removed = removed + (redis.call('LREM', KEYS[1], 0, id) > 0 and 1 or 0)
    if rec and delivery ~= '' and rec.o[F.callback_id] ~= delivery then
      rec.o[F.callback_id] = delivery
      redis.call('HSET', KEYS[2], id, encode(rec))
    end
  end
end
return removed
