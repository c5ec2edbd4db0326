-- recordLastOpenMax: the compare-and-set of recordLastOpen(s), run inside Redis (EVALSHA).
--
-- KEYS[i] is a hash, ARGV[1] the field (one platform per call, so it is sent once), ARGV[i+1]
-- the timestamp for KEYS[i]. Sets the field unless it already holds a number >= the timestamp.
-- A key of another type is skipped and reported (so one bad key does not fail a thousand good
-- ones). Returns { updated, { bad key indexes } }. Timestamps are integers below 2^53, so Lua's
-- doubles compare them exactly. A stored value that is not a number is overwritten.
local field = ARGV[1]
local updated = 0
local bad = {}
for i = 1, #KEYS do
  local ts = ARGV[i + 1]
  local cur = redis.pcall('HGET', KEYS[i], field)
  if type(cur) == 'table' and cur.err then
    bad[#bad + 1] = i
  else
    local c = cur and tonumber(cur)
    if not c or c < tonumber(ts) then
      redis.call('HSET', KEYS[i], field, ts)
      updated = updated + 1
    end
  end
end
return { updated, bad }
