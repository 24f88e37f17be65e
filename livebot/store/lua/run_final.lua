-- Decide a run's final comment once: the first current attempt to record one wins.
-- KEYS[1]: the run's metadata hash.
-- ARGV[1]: epoch; ARGV[2]: final status; ARGV[3]: final comment body.
-- Returns {final_status, final_body} as recorded. Error: LIVEBOT_STALE_ATTEMPT.
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return redis.error_reply('LIVEBOT_STALE_ATTEMPT')
end
if redis.call('HEXISTS', KEYS[1], 'final_status') == 0 then
  redis.call('HSET', KEYS[1], 'final_status', ARGV[2], 'final_body', ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'final_status', 'final_body')
