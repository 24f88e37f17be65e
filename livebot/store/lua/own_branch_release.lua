-- Release a claimed branch name only if this attempt still holds it (compare-and-delete).
-- KEYS[1]: the repository's own-branches hash.
-- ARGV[1]: branch; ARGV[2]: the claim this attempt wrote ("pending:<run>:<epoch>").
-- Returns 1 when released, 0 otherwise.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
