// The Lua scripts of the Redis Cache (redis-cache.ts). Each one is a single atomic state change
// (docs/architecture.md §3.2), headed by what it takes and returns. Run with EVALSHA, falling
// back to EVAL (RedisConnection.script), so a restarted Redis that lost its script cache is served
// without a reload step.

/**
 * Compare-and-set on the stored string.
 * KEYS[1]  the key
 * KEYS[2…] optional guard keys, checked first, in order (CompareAndSetOptions.whileExists, whileEquals)
 * ARGV[1]  "absent" to require that the key does not exist, "equal" to require ARGV[2]
 * ARGV[2]  the expected stored string (ignored for "absent")
 * ARGV[3]  "del" to delete on success, "set" to store ARGV[4]
 * ARGV[4]  the new stored string (ignored for "del")
 * ARGV[5]  TTL on success: "" none, "keep" the current one, else milliseconds
 * ARGV[6]  optional: one character per guard key: "e" it must exist (the default), "=" it must
 *          hold exactly the next stored string of ARGV[7…]
 * Returns  1 when applied, 0 when the stored string was not the expected one, -1 when an "e" guard
 *          key is absent, -2 when an "=" guard key holds something else.
 */
export const COMPARE_AND_SET_LUA = `
local guards = ARGV[6] or ''
local nextEqual = 7
for i = 2, #KEYS do
  if string.sub(guards, i - 1, i - 1) == '=' then
    if redis.call('GET', KEYS[i]) ~= ARGV[nextEqual] then return -2 end
    nextEqual = nextEqual + 1
  elseif redis.call('EXISTS', KEYS[i]) == 0 then
    return -1
  end
end
local current = redis.call('GET', KEYS[1])
if ARGV[1] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == 'del' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[4])
elseif ARGV[5] == 'keep' then
  redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
`;

/**
 * incr of an unsigned integer value, with a TTL only when the key is created.
 * KEYS[1]  the key
 * ARGV[1]  the amount to add (an integer)
 * ARGV[2]  TTL in milliseconds for a new key, "" for none
 * Returns  the new value; error "NOTINT" when the value is not integer text, "RANGE" when the
 *          result would leave ±(2^53 - 1) (both leave the value unchanged).
 */
export const INCR_LUA = `
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[2] == '' then redis.call('SET', KEYS[1], ARGV[1])
  else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
  return tonumber(ARGV[1])
end
if not string.match(current, '^%-?%d+$') then return redis.error_reply('NOTINT') end
local result = tonumber(current) + tonumber(ARGV[1])
if result > 9007199254740991 or result < -9007199254740991 then return redis.error_reply('RANGE') end
return redis.call('INCRBY', KEYS[1], ARGV[1])
`;

/**
 * incr of a signed integer value (signed-values.ts): Redis cannot re-sign a sum, so the caller
 * sends both possible outcomes, signed, and the script picks one.
 * KEYS[1]  the key
 * ARGV[1]  the stored form of the amount as a new value (used when the key is absent)
 * ARGV[2]  the signed delta record to append (used when the key holds an integer)
 * ARGV[3]  TTL in milliseconds for a new key, "" for none
 * Returns  the stored string after the change, for the caller to verify and add up;
 *          error "NOTINT" when the key holds a non-integer value (left unchanged).
 */
export const SIGNED_INCR_LUA = `
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[1])
  else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) end
  return ARGV[1]
end
if string.sub(current, 1, 1) ~= 'c' then return redis.error_reply('NOTINT') end
redis.call('APPEND', KEYS[1], ARGV[2])
return current .. ARGV[2]
`;

/**
 * Set-if-newer of a versioned value (Cache.setIfNewer). The stored string is "<version>:<rest>"
 * (the rest signed by the caller when the cache has a secret), so the script can compare versions
 * without the secret; a stored string without that head counts as absent.
 * KEYS[1]  the key
 * ARGV[1]  the new version (a non-negative integer below 2^53: exact as a Lua number)
 * ARGV[2]  the stored string, "<version>:<rest>"
 * ARGV[3]  TTL in milliseconds, "" for none
 * Returns  1 when stored, 0 when the key holds the same or a higher version (left unchanged).
 */
export const SET_IF_NEWER_LUA = `
local current = redis.call('GET', KEYS[1])
if current then
  local held = string.match(current, '^(%d+):')
  if held and tonumber(held) >= tonumber(ARGV[1]) then return 0 end
end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2])
else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`;
