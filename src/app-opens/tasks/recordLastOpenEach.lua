-- recordLastOpenEach: the compare-and-set of recordLastOpen for events sent together (the
-- concurrent per-event calls of one turn of the event loop), one reply per event.
--
-- KEYS[i] is a hash, ARGV[2i-1] its field and ARGV[2i] the timestamp for it. Sets the field
-- unless it already holds a number >= the timestamp, as recordLastOpenMax.lua does. A key may
-- come twice (two events of one user): the events are applied in order, each against the value
-- the one before left. Returns one character per key: '1' set, '0' already at or past it,
-- 'W' the key holds something other than a hash (skipped). Timestamps are integers below 2^53,
-- so Lua's doubles compare them exactly. A stored value that is not a number is overwritten.
local out = {}
for i = 1, #KEYS do
  local field = ARGV[2 * i - 1]
  local ts = ARGV[2 * i]
  local cur = redis.pcall('HGET', KEYS[i], field)
  if type(cur) == 'table' and cur.err then
    out[i] = 'W'
  else
    local c = cur and tonumber(cur)
    if not c or c < tonumber(ts) then
      redis.call('HSET', KEYS[i], field, ts)
      out[i] = '1'
    else
      out[i] = '0'
    end
  end
end
return table.concat(out)
