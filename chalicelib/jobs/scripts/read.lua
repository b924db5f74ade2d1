-- read: one job's record and, while it is ACTIVE, its in-flight entry (read only).
-- KEYS[1] jobs:{q}:job     HASH
-- KEYS[2] jobs:{q}:active  HASH  ACTIVE id -> in-flight entry
-- ARGV[1] id
-- Returns {record, in-flight entry or false}, or false when there is no such job.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
return {raw, redis.call('HGET', KEYS[2], ARGV[1])}
