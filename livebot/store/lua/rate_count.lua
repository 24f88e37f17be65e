-- Count an occurrence in a fixed window (the queue's rate limits).
-- KEYS[1]: the counter. ARGV[1]: window seconds.
-- Returns the count so far in the window.
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
