-- forwarded: outbox entries a worker turned into deliveries (or found nothing to deliver for)
-- leave the outbox, and each job records the id of its delivery. An entry whose job ended
-- again after it was read stays: that newer end is still to be delivered.
-- KEYS[1] jobs:{q}:outbox  LIST
-- KEYS[2] jobs:{q}:job     HASH
-- ARGV triples: id, its completed_at as read ('' when unknown), its delivery's id ('' for none)
-- Returns how many jobs left the outbox.
local removed = 0
for i = 1, #ARGV, 3 do
  local id, ended_at, delivery = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[2], id)
  local rec = raw and cjson.decode(raw)
  local ended = rec and (rec.state == STATE.COMPLETED or rec.state == STATE.FAILED)
  if not (ended and ended_at and rec.completed_at ~= ended_at) then
    removed = removed + (redis.call('LREM', KEYS[1], 0, id) > 0 and 1 or 0)
    if ended and delivery ~= '' and rec.callback_id ~= delivery then
      rec.callback_id = delivery
      redis.call('HSET', KEYS[2], id, cjson.encode(rec))
    end
  end
end
return removed
