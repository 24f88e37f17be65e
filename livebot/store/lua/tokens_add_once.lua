-- Count an attempt's tokens against its installation's day, once however often retried.
-- KEYS[1]: the day's token counter; KEYS[2]: the attempt's "counted" mark.
-- ARGV[1]: tokens; ARGV[2]: ttl seconds (of both keys).
-- Returns 1 when counted, 0 when the attempt was counted before.
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) == false then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
