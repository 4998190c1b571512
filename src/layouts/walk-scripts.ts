/*
 * Lua shared by both layouts for paging through a sorted-set index (`_sessions`, `_users`,
 * `SESSIONS`) in bounded steps, so that no script walks a whole index at once.
 *
 * A page starts just past a position: a score and a member prefix, taken from the last member
 * of the previous page. Members of a sorted set are ordered by score, then by their bytes, so a
 * (score, prefix) pair is a point in that order even when thousands of members share one score
 * (sessions created or used in the same second) and even when the member it came from has been
 * removed or re-scored since. The rank of that point is found with two ZCOUNTs and a bisection
 * over ranks (ZRANGE by rank is O(log N)), never by walking the ties: O(log² N) per page.
 *
 * The prefix is the first 16 bytes of the member (`{token}:{id}`: the token's first 16
 * characters), so no cursor carries a whole token; two tokens of one app sharing 16 characters
 * (about 2^-95 for a pair) would only make a listing skip or repeat one of them.
 */

/** Member bytes a position keeps. */
export const PREFIX_BYTES = 16;

/**
 * `before(a, b)` (byte order), `hex`/`unhex`, `num(x)` (a score as exact text), and
 * `walk(key, lo, hi, desc, p, q, n)`: up to n members with a score in [lo, hi] (texts as ZCOUNT
 * takes them, `(` for exclusive), downwards or upwards, starting just past position (p, q) or at
 * the range's edge when p is nil; returns a list of {member, score text}.
 */
export const LUA_WALK = `
-- Byte order: Lua's < compares by the server's locale (Redis calls setlocale at start-up).
local function before(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end

local function unhex(h)
  return (string.gsub(h, '..', function(x) return string.char(tonumber(x, 16)) end))
end

-- A score as text that Redis parses back to the same double.
local function num(x)
  return string.format('%.17g', x)
end

-- Members ordered before (score p, bytes q): those of lower score, then those of score p whose
-- bytes come before q, found by bisection over ranks.
local function rankOf(key, p, q)
  local lo = redis.call('ZCOUNT', key, '-inf', '(' .. p)
  local hi = redis.call('ZCOUNT', key, '-inf', p)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if before(redis.call('ZRANGE', key, mid, mid)[1], q) then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function walk(key, lo, hi, desc, p, q, n)
  local out = {}
  -- Ranks of the range's ends: [bottom, top].
  local bottom = redis.call('ZCOUNT', key, '-inf', '(' .. lo)
  local top = redis.call('ZCOUNT', key, '-inf', hi) - 1
  local first, last
  if desc then
    first = top
    -- Just below the position: members of score p before q (q's own member is after q).
    if p then first = math.min(first, rankOf(key, p, q) - 1) end
    last = math.max(bottom, first - n + 1)
    if first < last then return out end
    local got = redis.call('ZRANGE', key, last, first, 'WITHSCORES')
    for i = #got - 1, 1, -2 do out[#out + 1] = { got[i], got[i + 1] } end
  else
    first = bottom
    -- Just above the position: past every member that starts with q (bytes below 0xff follow).
    if p then first = math.max(first, rankOf(key, p, q .. '\\255')) end
    last = math.min(top, first + n - 1)
    if last < first then return out end
    local got = redis.call('ZRANGE', key, first, last, 'WITHSCORES')
    for i = 1, #got, 2 do out[#out + 1] = { got[i], got[i + 1] } end
  end
  return out
end
`;
