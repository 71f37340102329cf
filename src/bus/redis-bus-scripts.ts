// The Lua scripts of the Redis Bus (docs/architecture.md §2, §3.2: every state change of a ready
// queue is ONE script, so no other client sees a half-done step). Each script is headed by what it
// takes (KEYS / ARGV) and what it returns. Keys of worker group <g> under prefix <p>:
//   <p>q:<g>:ready   ZSET  dispatch id → order score  (waiting tasks)
//   <p>q:<g>:claims  ZSET  dispatch id → claim deadline, ms of the Redis clock
//   <p>q:<g>:tasks   HASH  dispatch id → signed envelope (while waiting or claimed)
//   <p>q:<g>:rank    HASH  dispatch id → order score (while claimed, to requeue in place)
//   <p>q:<g>:marker  LIST  at most one "1" while the group has waiting tasks: claimers BLPOP it
//   <p>seq           STRING the FIFO sequence (INCR)
// A dispatch id is "<taskInstanceId>:<attempt>:<token>", so an ack finds its claim from the task.
//
// Order score = rank * 2^48 + sequence, rank = instancePriority * 5 + priority (0..24), the
// same key as the in-memory heap (ready-heap.ts); it stays below 2^53, so doubles hold it
// exactly. Lua prints numbers with 14 digits, hence string.format('%.0f') before ZADD.
//
// Two Redis commands of the client sit outside these scripts because each is one atomic command
// already: XADD of an event and XGROUP CREATE of a slot's consumer group.


import { type LuaScript, luaScript as script } from "./redis-client.ts";

export type { LuaScript };


/** Keys of one worker group, in the order the scripts below take them. */
export const GROUP_KEY_SUFFIXES = ["ready", "claims", "tasks", "rank", "marker"] as const;

/**
 * enqueue
 * KEYS: ready, claims, tasks, rank, marker (of the group), seq
 * ARGV: dispatch id, envelope, rank (0..24)
 * Returns: the sequence number given. A dispatch already waiting or claimed is queued once:
 * its claim ends and it waits again with the new sequence.
 */
export const ENQUEUE = script(
  "enqueue",
  `
local seq = redis.call('INCR', KEYS[6]) % 281474976710656
local score = tonumber(ARGV[3]) * 281474976710656 + seq
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], string.format('%.0f', score), ARGV[1])
if redis.call('LLEN', KEYS[5]) == 0 then redis.call('RPUSH', KEYS[5], '1') end
return seq
`,
);

/**
 * enqueue many: what enqueue does, for each task in ARGV order (one call for a group commit's successors)
 * KEYS: ready, claims, tasks, rank, marker (of the group), seq
 * ARGV: dispatch id, envelope, rank (0..24), repeated per task
 * Returns: how many tasks were queued.
 */
export const ENQUEUE_MANY = script(
  "enqueue_many",
  `
local n = 0
for i = 1, #ARGV, 3 do
  local seq = redis.call('INCR', KEYS[6]) % 281474976710656
  local score = tonumber(ARGV[i + 2]) * 281474976710656 + seq
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[1], string.format('%.0f', score), ARGV[i])
  n = n + 1
end
if n > 0 and redis.call('LLEN', KEYS[5]) == 0 then redis.call('RPUSH', KEYS[5], '1') end
return n
`,
);

/**
 * claim
 * KEYS: 5 per group (ready, claims, tasks, rank, marker), for each group claimed from
 * ARGV: max (>= 1), lease ms, [attachment key prefix]
 * Returns: { wait, g1, id1, envelope1, g2, id2, envelope2, … } best first across the groups: g is
 * the 0-based index of the task's group in KEYS, wait the ms until the earliest remaining claim
 * of these groups expires (-1: none). An envelope
 * is "" when the task hash had none (written straight into Redis): the client counts it and
 * the id is gone already. With an attachment prefix each task is followed by one more field, the
 * string value of key <prefix><taskInstanceId> ("" when absent or not a string): the dispatch row
 * a master cached for it (cache/dispatch-records.ts), read in the claim instead of one more round
 * trip after it. That key is not in KEYS: a single Redis only, as every script here assumes.
 * First puts every expired claim back in its queue with its original score (no sweeper needed),
 * then takes the best `max`. A group left with waiting tasks gets its marker back, so the next
 * blocked claimer wakes; an empty group loses a stale one, so nobody wakes for nothing.
 */
export const CLAIM = script(
  "claim",
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local attach = ARGV[3]
local n = #KEYS / 5
for g = 0, n - 1 do
  local ready, claims, tasks, rank = KEYS[g*5+1], KEYS[g*5+2], KEYS[g*5+3], KEYS[g*5+4]
  local expired = redis.call('ZRANGEBYSCORE', claims, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    local score = redis.call('HGET', rank, id)
    redis.call('ZREM', claims, id)
    redis.call('HDEL', rank, id)
    if score and redis.call('HEXISTS', tasks, id) == 1 then redis.call('ZADD', ready, score, id) end
  end
end
local cand = {}
for g = 0, n - 1 do
  local r = redis.call('ZRANGE', KEYS[g*5+1], 0, max - 1, 'WITHSCORES')
  for i = 1, #r, 2 do cand[#cand+1] = { tonumber(r[i+1]), g, r[i], r[i+1] } end
end
if n > 1 then table.sort(cand, function(a, b) return a[1] < b[1] end) end
local out = { -1 }
for k = 1, math.min(max, #cand) do
  local c = cand[k]
  local base = c[2] * 5
  redis.call('ZREM', KEYS[base+1], c[3])
  local env = redis.call('HGET', KEYS[base+3], c[3])
  if env then
    redis.call('ZADD', KEYS[base+2], string.format('%.0f', now + lease), c[3])
    redis.call('HSET', KEYS[base+4], c[3], c[4])
  else
    env = ''
  end
  out[#out+1] = c[2]
  out[#out+1] = c[3]
  out[#out+1] = env
  if attach then
    local tid = string.match(c[3], '^(%d+):')
    local value = tid and redis.pcall('GET', attach .. tid)
    out[#out+1] = type(value) == 'string' and value or ''
  end
end
local nearest = -1
for g = 0, n - 1 do
  if redis.call('ZCARD', KEYS[g*5+1]) == 0 then
    redis.call('DEL', KEYS[g*5+5])
  elseif redis.call('LLEN', KEYS[g*5+5]) == 0 then
    redis.call('RPUSH', KEYS[g*5+5], '1')
  end
  local first = redis.call('ZRANGE', KEYS[g*5+2], 0, 0, 'WITHSCORES')
  if first[2] then
    local wait = math.max(0, tonumber(first[2]) - now)
    if nearest < 0 or wait < nearest then nearest = wait end
  end
end
out[1] = nearest
return out
`,
);

/**
 * release: hands claimed tasks back (a claim that was aborted or closed while its script ran)
 * KEYS: ready, claims, tasks, rank, marker (of the group)
 * ARGV: dispatch ids
 * Returns: how many went back to the queue, in their old place.
 */
export const RELEASE = script(
  "release",
  `
local back = 0
for _, id in ipairs(ARGV) do
  local score = redis.call('HGET', KEYS[4], id)
  if redis.call('ZREM', KEYS[2], id) == 1 and score and redis.call('HEXISTS', KEYS[3], id) == 1 then
    redis.call('ZADD', KEYS[1], score, id)
    back = back + 1
  end
  redis.call('HDEL', KEYS[4], id)
end
if back > 0 and redis.call('LLEN', KEYS[5]) == 0 then redis.call('RPUSH', KEYS[5], '1') end
return back
`,
);

/**
 * ack: ends dispatches, claimed or (lease expired) waiting again; also drops refused envelopes
 * KEYS: ready, claims, tasks, rank (of the group)
 * ARGV: dispatch ids
 * Returns: how many claims ended. Unknown ids change nothing.
 */
export const ACK = script(
  "ack",
  `
local ended = 0
for _, id in ipairs(ARGV) do
  ended = ended + redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
end
return ended
`,
);

/**
 * poke: gives a group's marker back (a claimer popped it, then was aborted before claiming)
 * KEYS: ready, marker (of the group)
 * ARGV: none
 * Returns: 1 when a marker was pushed.
 */
export const POKE = script(
  "poke",
  `
if redis.call('ZCARD', KEYS[1]) > 0 and redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('RPUSH', KEYS[2], '1')
  return 1
end
return 0
`,
);

/**
 * ack-events: removes handled events from a slot's stream
 * KEYS: the slot's stream
 * ARGV: consumer group, entry ids
 * Returns: how many entries were deleted.
 */
export const ACK_EVENTS = script(
  "ack-events",
  `
local ids = {}
for i = 2, #ARGV do ids[#ids+1] = ARGV[i] end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
`,
);
