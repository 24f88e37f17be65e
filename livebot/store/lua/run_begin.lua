-- A new attempt at a run takes the lease (livebot.runs.log.RunLog).
-- KEYS[1]: the run's metadata hash. No ARGV.
-- Returns the new epoch, the fencing token of the attempt's writes. Error: LIVEBOT_NO_RUN.
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('LIVEBOT_NO_RUN') end
return redis.call('HINCRBY', KEYS[1], 'epoch', 1)
