import { Script } from "../script.js";
import { LUA_WALK } from "../walk-scripts.js";
import { COMMON } from "./common-lua.js";

/* The compat layout's listing scripts: soid, soapp and activity, each one bounded page. */

/*
 * soid, one bounded page. The id's set has no order, so a page is made of whole SSCAN steps of
 * COUNT 1 (each returns one hash bucket, or a small set whole), which SSCAN guarantees to cover
 * every member present throughout. A bucket that would overflow the page starts the next one;
 * a bucket larger than a page is read in parts, its tokens in byte order, past `after`.
 * ARGV: clock, ns, app, id, SSCAN cursor ("0" first), count, after (hex, "" for none).
 * Returns {SSCAN cursor to go on with ("0": done), after or false, token, session, ...}.
 * Reads only.
 */
export const soidScript = new Script(`${COMMON}${LUA_WALK}
local now = clock(ARGV[1])
local ns, app, id = ARGV[2], ARGV[3], ARGV[4]
local p = ns .. app .. ':'
local ukey, cursor, n = p .. 'us:' .. id, ARGV[5], tonumber(ARGV[6])
-- Tokens are alphanumeric: every token that starts with the prefix sorts before prefix .. 0xff.
local after = ARGV[7] ~= '' and unhex(ARGV[7]) .. '\\255' or nil
local out = { cursor, false }
local taken = 0
for _ = 1, 4 * n + 10 do
  local scan = redis.call('SSCAN', ukey, cursor, 'COUNT', 1)
  local fresh = {}
  for _, token in ipairs(scan[2]) do
    if not after or before(after, token) then fresh[#fresh + 1] = token end
  end
  after = nil
  if taken + #fresh > n then
    -- Whole buckets only, unless this one alone is larger than the page.
    if taken > 0 then return out end
    table.sort(fresh, before)
    for i = 1, n do list(out, p, fresh[i], now, id) end
    out[2] = hex(string.sub(fresh[n], 1, 16))
    return out
  end
  for _, token in ipairs(fresh) do list(out, p, token, now, id) end
  taken = taken + #fresh
  cursor = scan[1]
  out[1] = cursor
  if cursor == '0' then return out end
end
return out
`);

/*
 * soapp, one bounded page of the sessions active within deltaTime (the bound included, as in
 * redis-sessions), in time order: "desc" most recent first (ties in reverse byte order, as
 * ZRANGE … REV gives them), "asc" the reverse. Scores in seconds and in milliseconds (the Elixir
 * port's) are one order by time. Reads only.
 * ARGV: clock, ns, app, deltaTime, "desc" | "asc", count, then the position to start after:
 * range ("s", "m" or "" for the start), score, member prefix in hex.
 * Returns {next position {range, score, hex} or false when done, then per live session: token,
 * session, member, activity in milliseconds (an integer)}.
 */
export const soappScript = new Script(`${COMMON}${LUA_WALK}
local now = clock(ARGV[1])
local ns, app = ARGV[2], ARGV[3]
local p = ns .. app .. ':'
local key = p .. '_sessions'
local from = now - tonumber(ARGV[4])
local desc, n = ARGV[5] == 'desc', tonumber(ARGV[6])
local range, score, q = ARGV[7], ARGV[8], unhex(ARGV[9])
local sp, mp
if range == 's' then sp, mp = score, num(tonumber(score) * 1000)
elseif range == 'm' then sp, mp = num(tonumber(score) / 1000), score end
local secs = walk(key, num(from), '(' .. MS, desc, sp, q, n)
local msecs = walk(key, num(from * 1000), '+inf', desc, mp, q, n)
-- Merge both by (time in ms, member bytes) in the walk's direction.
local function first(a, ta, b, tb)
  if ta ~= tb then return (ta > tb) == desc end
  if desc then return before(b[1], a[1]) end
  return before(a[1], b[1])
end
local out = { false }
local i, j, last = 1, 1, nil
for _ = 1, n do
  local e, r, t
  local a, b = secs[i], msecs[j]
  if not a and not b then break end
  local ta, tb = a and tonumber(a[2]) * 1000, b and tonumber(b[2])
  if a and (not b or first(a, ta, b, tb)) then
    e, r, t, i = a, 's', ta, i + 1
  else
    e, r, t, j = b, 'm', tb, j + 1
  end
  last = { r, e[2], e[1] }
  local token = string.sub(e[1], 1, 64)
  local s = load(p .. token, now)
  if s then
    out[#out + 1] = token
    out[#out + 1] = reply(s, s.w, s.d)
    out[#out + 1] = e[1]
    out[#out + 1] = t
  end
end
-- Done when both ranges ran short and every member they gave was taken.
if last and not (#secs < n and #msecs < n and i > #secs and j > #msecs) then
  last[3] = hex(string.sub(last[3], 1, 16))
  out[1] = last
end
return out
`);

/*
 * activity: the number of ids active within deltaTime, the bound included as in redis-sessions,
 * whether their score is in seconds or (the Elixir port's) milliseconds. ARGV: clock, ns, app,
 * deltaTime, index ("_users" for activity, "_sessions" for a count of sessions).
 */
export const activityScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local key = ARGV[2] .. ARGV[3] .. ':' .. ARGV[5]
local from = now - tonumber(ARGV[4])
return redis.call('ZCOUNT', key, from, '(' .. MS)
  + redis.call('ZCOUNT', key, string.format('%.17g', from * 1000), '+inf')
`);
