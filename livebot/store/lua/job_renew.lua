-- Renew only the claims this consumer still holds.
-- KEYS[1]: the job stream.
-- ARGV[1]: consumer group; ARGV[2]: consumer; ARGV[3..]: message ids.
-- Returns the ids another consumer took over.
local lost = {}
for i = 3, #ARGV do
  local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #mine == 0 then
    table.insert(lost, ARGV[i])
  else
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  end
end
return lost
