-- Add a learning to a repository's hash, once: the same text again answers its existing number.
-- KEYS[1]: the repository's learnings hash (field "next": the last number given; "<n>": a JSON
-- learning). ARGV[1]: the most learnings a repository may keep; ARGV[2]: the text (normalised);
-- ARGV[3]: the learning as JSON, without its number.
-- Returns {number, 1} when added, {number, 0} when it was there already, {0, 0} when full.
local fields = redis.call('HGETALL', KEYS[1])
local count = 0
for i = 1, #fields, 2 do
  if fields[i] ~= 'next' then
    count = count + 1
    if cjson.decode(fields[i + 1])['text'] == ARGV[2] then
      return {tonumber(fields[i]), 0}
    end
  end
end
if count >= tonumber(ARGV[1]) then
  return {0, 0}
end
local n = redis.call('HINCRBY', KEYS[1], 'next', 1)
redis.call('HSET', KEYS[1], tostring(n), ARGV[3])
return {n, 1}
