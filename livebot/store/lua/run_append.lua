-- Append one event to a run's log (livebot.runs.log.RunLog.append).
-- KEYS[1]: the run's metadata hash; KEYS[2]: the run's event stream.
-- ARGV[1]: stream maxlen; ARGV[2]: ttl seconds (set on `complete`); ARGV[3]: event type;
-- ARGV[4]: JSON data; ARGV[5]: new status or ""; ARGV[6]: epoch or ""; ARGV[7]: writer
-- sequence "<writer>:<seq>" or ""; ARGV[8]: bell channel; ARGV[9]: the terminal statuses,
-- space-separated; ARGV[10..]: field/value pairs set on the metadata.
-- Returns the event's stream id (or, for a repeated writer sequence, the id it already has).
-- Errors: LIVEBOT_NO_RUN, LIVEBOT_STALE_ATTEMPT, LIVEBOT_RUN_COMPLETE.
-- Publishes on the bell channel the frame livebot.runs.bell.BellFrame decodes:
-- "<offset>\n<id>\n<event>\n<data>".
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('LIVEBOT_NO_RUN') end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[6] then
  return redis.error_reply('LIVEBOT_STALE_ATTEMPT')
end
if ARGV[7] ~= '' and redis.call('HGET', KEYS[1], 'writer_seq') == ARGV[7] then
  return redis.call('HGET', KEYS[1], 'writer_id')
end
if string.find(' ' .. ARGV[9] .. ' ', ' ' .. status .. ' ', 1, true) then
  return redis.error_reply('LIVEBOT_RUN_COMPLETE')
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*',
                      'event', ARGV[3], 'data', ARGV[4])
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[5]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'writer_seq', ARGV[7], 'writer_id', id) end
for i = 10, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[3] == 'complete' then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
redis.call('PUBLISH', ARGV[8], offset .. '\n' .. id .. '\n' .. ARGV[3] .. '\n' .. ARGV[4])
return id
