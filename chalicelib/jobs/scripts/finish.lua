-- finish: write a batch of outcomes of ACTIVE jobs: COMPLETED, FAILED, or RETRYING by the retry rules.
-- KEYS[1] jobs:{q}:job        HASH
-- KEYS[2] jobs:{q}:lease      ZSET
-- KEYS[3] jobs:{q}:completed  ZSET  COMPLETED ids by expiry of their retention
-- KEYS[4] jobs:{q}:retry      ZSET
-- KEYS[5] jobs:{q}:failed     ZSET  FAILED ids by time of failure
-- KEYS[6] jobs:{q}:stats      HASH  processed / failed counters, in total and per day
-- KEYS[7] jobs:{q}:wake       LIST  woken when a retry is scheduled, so idle workers learn when
--                                    it falls due
-- ARGV[1] now s, ARGV[2] retention s, ARGV[3] day (YYYY-MM-DD)
-- ARGV[4..] per outcome, five values: id, lease token, kind ('done', 'fail' or 'retry'),
--           payload (result JSON for 'done', error text otherwise), retry_at s (for 'retry')
-- Returns one state code per outcome: 6, 5 or 4, or 0 when the job is no longer this lease's
-- (its lease expired and another worker took it over), in which case nothing was written.
local now, retention, day = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local codes, processed, failed, retrying = {}, 0, 0, false
for i = 4, #ARGV, 5 do
  local id, token, kind, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local code = 0
  local raw = redis.call('HGET', KEYS[1], id)
  local rec = raw and cjson.decode(raw)
  if rec and rec.state == 1 and rec.token == token then
    redis.call('ZREM', KEYS[2], id)
    rec.token = nil
    processed = processed + 1
    if kind == 'done' then
      code = 6
      rec.error = nil  -- the errors of earlier attempts stay in rec.errors
      rec.result = payload
      rec.completed_at = now
      rec.expires_at = now + retention
      redis.call('ZADD', KEYS[3], rec.expires_at, id)
    else
      failed = failed + 1
      rec.error = payload
      rec.errors = rec.errors or {}
      table.insert(rec.errors, payload)
      if #rec.errors > 5 then table.remove(rec.errors, 1) end
      if kind == 'retry' and rec.retried < rec.max_retry then
        code = 4
        rec.retried = rec.retried + 1
        rec.next_run_at = tonumber(ARGV[i + 4])
        redis.call('ZADD', KEYS[4], rec.next_run_at, id)
        retrying = true
      else
        code = 5
        rec.completed_at = now
        redis.call('ZADD', KEYS[5], now, id)
      end
    end
    rec.state = code
    redis.call('HSET', KEYS[1], id, cjson.encode(rec))
  end
  codes[#codes + 1] = code
end
if processed > 0 then
  redis.call('HINCRBY', KEYS[6], 'processed', processed)
  redis.call('HINCRBY', KEYS[6], 'processed:' .. day, processed)
end
if failed > 0 then
  redis.call('HINCRBY', KEYS[6], 'failed', failed)
  redis.call('HINCRBY', KEYS[6], 'failed:' .. day, failed)
end
if retrying then
  redis.call('LPUSH', KEYS[7], 1)
  redis.call('LTRIM', KEYS[7], 0, 0)
end
return codes
