-- Queue jobs, each deduplicated by its delivery (livebot.queue.jobs.JobQueue).
-- KEYS[1]: the job stream; KEYS[2..]: each job's delivery key.
-- ARGV[1]: delivery-key ttl seconds; ARGV[2..]: the jobs (ARGV[i] goes with KEYS[i]).
-- Returns, per job, 1 when queued, 0 when its delivery was queued before.
local queued = {}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], 'queued', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[i])
    queued[i - 1] = 1
  else
    queued[i - 1] = 0
  end
end
return queued
