/**
 * The byte budget of a dead-letter stream, kept inside Redis: two Lua scripts that add and delete
 * entries of `deadletter:<stream>` while keeping a running estimate of its bytes in a side key,
 * `deadletter:{deadletter:<stream>}:bytes` (its hash tag is the stream's key, so both share a
 * cluster slot; its `deadletter:` prefix keeps it under the ACL key patterns the stream is under).
 * Every writer goes through the scripts, so the estimate holds with many workers writing at once
 * and across restarts (it lives beside the stream, with the same persistence).
 *
 * An entry counts as `ceil(1.3 * (64 + the lengths of its field names and values))` bytes: an upper
 * bound of what Redis allocates for it (measured on Redis 7.0 / jemalloc from 10 B to 85 KB of
 * data: 0.55-0.97 of the estimate; the 1.3 covers jemalloc's size classes, up to 25% above the
 * request), so the stream's memory stays below the budget.
 */
import { defineScript } from './scripts.js';

/**
 * ADD. KEYS: the stream, the side key. ARGV: maxBytes, maxLen, evictReadLimit, then per letter
 * the number of field/value arguments that follow, and those arguments.
 *
 * Before each letter, the oldest entries are deleted (XDEL) until it fits in maxBytes and the
 * stream holds fewer than maxLen entries; the letter is then always added (a letter larger than
 * the budget is kept alone). Deleting stops for this call once `evictReadLimit` estimated bytes
 * were deleted, so one call never blocks Redis for long (a stream far over budget, e.g. written
 * before the budget existed, shrinks over the next calls). An empty stream resets the estimate; a
 * missing side key next to a non-empty stream is started from MEMORY USAGE (the stream's real
 * size; without the MEMORY permission, from a sample of its entries). Returns { added, dropped, bytes after, entries after }.
 */
const ADD_LUA = `
local stream, counter = KEYS[1], KEYS[2]
local maxBytes, maxLen, evictLimit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function estimate(list, from, to)
  local n = 64
  for i = from, to do n = n + #list[i] end
  return math.ceil(n * 1.3)
end
local len = redis.call('XLEN', stream)
local bytes = 0
if len > 0 then
  bytes = tonumber(redis.call('GET', counter))
  if bytes == nil then
    local usage = redis.pcall('MEMORY', 'USAGE', stream, 'SAMPLES', '0')
    if type(usage) == 'number' then
      bytes = usage
    else
      -- MEMORY not allowed (an ACL): the mean of the oldest and newest entries, times their number
      local sum, n = 0, 0
      for _, e in ipairs(redis.call('XRANGE', stream, '-', '+', 'COUNT', 10)) do sum, n = sum + estimate(e[2], 1, #e[2]), n + 1 end
      for _, e in ipairs(redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 10)) do sum, n = sum + estimate(e[2], 1, #e[2]), n + 1 end
      bytes = math.ceil(sum / math.max(n, 1) * len)
    end
  end
end
local added, dropped, evicted = 0, 0, 0
local pos = 4
while pos <= #ARGV do
  local first, last = pos + 1, pos + tonumber(ARGV[pos])
  local size = estimate(ARGV, first, last)
  local function over()
    return len > 0 and (bytes + size > maxBytes or len >= maxLen) and evicted < evictLimit
  end
  while over() do
    local k = len - maxLen + 1
    if bytes + size > maxBytes then k = math.max(k, math.ceil((bytes + size - maxBytes) * len / math.max(bytes, 1))) end
    k = math.min(math.max(k, 1), 100)
    local entries = redis.call('XRANGE', stream, '-', '+', 'COUNT', k)
    if #entries == 0 then
      len = 0
      break
    end
    local ids = {}
    for _, e in ipairs(entries) do
      if not over() then break end
      local s = estimate(e[2], 1, #e[2])
      ids[#ids + 1] = e[1]
      bytes = math.max(0, bytes - s)
      len = len - 1
      evicted = evicted + s
      dropped = dropped + 1
    end
    redis.call('XDEL', stream, unpack(ids))
  end
  if len <= 0 then
    len = 0
    bytes = 0
  end
  redis.call('XADD', stream, '*', unpack(ARGV, first, last))
  bytes = bytes + size
  len = len + 1
  added = added + 1
  pos = last + 1
end
redis.call('SET', counter, bytes)
return { added, dropped, bytes, len }
`;

/**
 * DELETE. KEYS: the stream, the side key. ARGV: entry ids. Deletes those that exist and takes
 * their estimated bytes off the side key (left alone when missing: the next ADD starts it afresh).
 * Returns the number deleted.
 */
const DELETE_LUA = `
local stream, counter = KEYS[1], KEYS[2]
local freed, deleted = 0, 0
for i = 1, #ARGV do
  local e = redis.call('XRANGE', stream, ARGV[i], ARGV[i])[1]
  if e then
    local n = 64
    for j = 1, #e[2] do n = n + #e[2][j] end
    freed = freed + math.ceil(n * 1.3)
    deleted = deleted + redis.call('XDEL', stream, ARGV[i])
  end
end
local bytes = tonumber(redis.call('GET', counter))
if bytes ~= nil then
  if redis.call('XLEN', stream) == 0 then bytes = 0 else bytes = math.max(0, bytes - freed) end
  redis.call('SET', counter, bytes)
end
return deleted
`;

/**
 * The two scripts (KEYS: the stream, its bytes counter), run through the script loader of
 * src/redis/scripts.ts.
 */
export const DEAD_LETTER_SCRIPTS = Object.freeze({
  add: defineScript({ name: 'deadLetterAdd', lua: ADD_LUA, numberOfKeys: 2 }),
  delete: defineScript({ name: 'deadLetterDelete', lua: DELETE_LUA, numberOfKeys: 2 }),
});

/**
 * The estimate an entry with these field names and values counts for (the scripts' formula).
 */
export function estimateEntryBytes(fieldsAndValues: readonly string[]): number {
  let n = 64;
  for (const s of fieldsAndValues) n += Buffer.byteLength(s, 'utf8');
  return Math.ceil(n * 1.3);
}
