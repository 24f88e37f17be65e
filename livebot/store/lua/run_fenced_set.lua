-- Set fields of a run's metadata only while the epoch is current.
-- KEYS[1]: the run's metadata hash.
-- ARGV[1]: epoch; ARGV[2..]: field/value pairs.
-- Returns 1. Error: LIVEBOT_STALE_ATTEMPT.
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return redis.error_reply('LIVEBOT_STALE_ATTEMPT')
end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
