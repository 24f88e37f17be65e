-- Set a field of a run's metadata once, and only while the epoch is current.
-- KEYS[1]: the run's metadata hash.
-- ARGV[1]: epoch; ARGV[2]: field; ARGV[3]: value.
-- Returns 1 when this call set it, 0 when it was set before. Error: LIVEBOT_STALE_ATTEMPT.
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return redis.error_reply('LIVEBOT_STALE_ATTEMPT')
end
return redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3])
