-- Give a job back to the queue at once, as a fresh entry, if it is still pending (and, when
-- ARGV[4] is given, still held by that consumer).
-- KEYS[1]: the job stream.
-- ARGV[1]: the message id; ARGV[2]: the job; ARGV[3]: consumer group; ARGV[4]: consumer or "".
-- Returns 1 when handed back, 0 when not pending (or held by another consumer).
local pending
if ARGV[4] ~= '' then
  pending = redis.call('XPENDING', KEYS[1], ARGV[3], ARGV[1], ARGV[1], 1, ARGV[4])
else
  pending = redis.call('XPENDING', KEYS[1], ARGV[3], ARGV[1], ARGV[1], 1)
end
if #pending == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'job', ARGV[2])
redis.call('XACK', KEYS[1], ARGV[3], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
