import { LUA_CLOCK, LUA_LOAD, LUA_MERGE, LUA_REPLY } from "../lua.js";
import { LUA_CREATE, LUA_IMPORT } from "../lua-create.js";
import { Script } from "../script.js";
import { LUA_WALK } from "../walk-scripts.js";

/*
 * One Lua script per store operation, so that each is atomic and one round trip (EVALSHA).
 * Scripts are constants: every caller-supplied value travels in ARGV, never in the script text.
 *
 * Common ARGV[1] is the clock: unix seconds from the caller, or "" for Redis' own TIME, which
 * gives every app server one clock.
 *
 * Token-bearing members are parsed by position, never by splitting on ":", because ids may
 * contain colons: `{token}:{id}` has the token in 1..64 and the id from 66, and
 * `{app}:{token}:{id}` has an app without colons (validated) before the token.
 */

/** The Lua every script of this layout starts with (also account-scripts.ts). */
export const COMMON = `
${LUA_CLOCK}
-- Index scores at or above this are milliseconds (the Elixir port writes them), below it seconds
-- (redis-sessions, this package): seconds stay below 1e11 until the year 5138, milliseconds
-- have been above since 1973, so one index holds both and two ranges query it exactly.
local MS = '100000000000'

-- The members of an expiry index entry {app}:{token}:{id}: an app has no colon (validated) and
-- a token is 64 characters, so the id is everything after them (it may contain colons).
local function parseEntry(m)
  local c = string.find(m, ':', 1, true)
  if not c then return nil end
  local app, token, id = string.sub(m, 1, c - 1), string.sub(m, c + 1, c + 64), string.sub(m, c + 66)
  if #token ~= 64 or id == '' then return nil end
  return app, token, id
end

-- Removes one session and its index entries; drops the id from _users once it has no session.
local function remove(p, ns, app, token, id, channel)
  redis.call('DEL', p .. token)
  redis.call('ZREM', p .. '_sessions', token .. ':' .. id)
  redis.call('ZREM', ns .. 'SESSIONS', app .. ':' .. token .. ':' .. id)
  local ukey = p .. 'us:' .. id
  redis.call('SREM', ukey, token)
  if redis.call('SCARD', ukey) == 0 then redis.call('ZREM', p .. '_users', id) end
  redis.call('PUBLISH', channel, app .. ':' .. token)
end

${LUA_LOAD}
-- The expiry index score of a live session: its idle end, or its absolute end when sooner.
local function ends(now, s)
  local e = now + s.ttl
  if s.ab and num(s.ab) < e then e = num(s.ab) end
  return e
end

-- The live session a token names: its own, or through a rotation alias the new token's.
-- Returns the session, its key, its token and whether an alias was followed (nil: none).
local function follow(p, token, now)
  local key = p .. token
  local s = load(key, now)
  if s then return s, key, token, false end
  local to = aliasOf(key, now)
  if not to then return nil end
  s = load(p .. to, now)
  if not s then return nil end
  return s, p .. to, to, true
end

-- Refreshes activity exactly as redis-sessions does. For no_resave the remaining ttl is written
-- back together with la, so the absolute expiry la + ttl never moves (v4 drifted by 1 s a call).
-- At idle 0 there is nothing to do: whoever set la to this second (us or redis-sessions) set the
-- three scores to the same values in the same step, and skipping four writes halves the cost.
local function touch(key, s, now, p, ns, app, token)
  if s.idle <= 0 then return end
  local tokenid = token .. ':' .. s.id
  redis.call('ZADD', p .. '_sessions', now, tokenid)
  redis.call('ZADD', p .. '_users', now, s.id)
  redis.call('ZADD', ns .. 'SESSIONS', ends(now, s), app .. ':' .. tokenid)
  if s.noresave then
    redis.call('HSET', key, 'la', now, 'ttl', s.ttl)
  else
    redis.call('HSET', key, 'la', now)
  end
end

${LUA_REPLY}
-- Appends a live session (of \`id\`, when given) to a soid/soapp list: token, then its reply.
local function list(out, p, token, now, id)
  local s = load(p .. token, now)
  if s and (not id or s.id == id) then
    out[#out + 1] = token
    out[#out + 1] = reply(s, s.w, s.d)
  end
end
${LUA_CREATE}`;

/*
 * create. KEYS: none (all derived). ARGV: clock, ns, app, token, id, ip, ttl, d, no_resave, ua,
 * absolute ('' for none), csrf token, cap (0: none), "evict" | "refuse".
 * A resend of the same create (same token and id) is a no-op, so a lost reply cannot duplicate it.
 * With a cap, the id's live sessions are counted here, atomically with the write: dead members
 * of its set are dropped, then the least recently active ones are evicted until one fits, or the
 * create is refused. Returns {1, evicted token...}.
 */
export const createScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, token, id = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local p = ns .. app .. ':'
local key = p .. token
local done = existing(key, id)
if done then return { done } end
local out = { 1 }
local cap = tonumber(ARGV[13])
if cap > 0 then
  local ukey = p .. 'us:' .. id
  local live = {}
  for _, t in ipairs(redis.call('SMEMBERS', ukey)) do
    local f = redis.call('HMGET', p .. t, 'id', 'la', 'ttl', 'ab')
    if f[1] == id and alive(now, f[2], f[3], f[4]) then
      live[#live + 1] = { t, num(f[2]) }
    elseif f[1] == id or not f[1] then
      remove(p, ns, app, t, id, ns .. 'cache')
    else
      redis.call('SREM', ukey, t)
    end
  end
  if #live >= cap then
    if ARGV[14] == 'refuse' then
      return redis.error_reply('ERS_SESSION_LIMIT at most ' .. cap .. ' sessions per user')
    end
    table.sort(live, function(a, b)
      if a[2] ~= b[2] then return a[2] < b[2] end
      return a[1] < b[1]
    end)
    for i = 1, #live - cap + 1 do
      remove(p, ns, app, live[i][1], id, ns .. 'cache')
      out[#out + 1] = live[i][1]
    end
  end
end
local s = { ttl = tonumber(ARGV[7]) }
if ARGV[11] ~= '' then s.ab = now + tonumber(ARGV[11]) end
local tokenid = token .. ':' .. id
redis.call('ZADD', p .. '_sessions', now, tokenid)
redis.call('ZADD', p .. '_users', now, id)
redis.call('ZADD', ns .. 'SESSIONS', ends(now, s), app .. ':' .. tokenid)
redis.call('SADD', p .. 'us:' .. id, token)
local extra = { ARGV[10], ARGV[11], ARGV[12] }
redis.call('HSET', key, unpack(newFields(id, ARGV[6], now, ARGV[7], ARGV[8], ARGV[9], extra)))
-- The absolute end binds every client: none of them ever sets or clears a key's expiry.
if s.ab then expireAt(key, s.ab, now, ARGV[1] == '') end
return out
`);

/*
 * get. ARGV: clock, ns, app, token, touchAfter, ip ("" for none): the read is counted, and
 * refreshes activity once the session has been idle that many seconds (0: every read, as
 * redis-sessions); a refresh also keeps ip as the last one. A rotation alias is followed.
 * Returns the session as it was before this read (redis-sessions returns r before HINCRBY), and
 * 1 after it when the token was an alias (such a read must not be cached).
 */
export const getScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app = ARGV[2], ARGV[3]
local p = ns .. app .. ':'
local s, key, token, via = follow(p, ARGV[4], now)
if not s then return nil end
local out = reply(s, s.w, s.d)
out[13] = via and 1 or 0
-- Redis refuses a script's first write when it is out of memory (or a read-only replica); the
-- read is then still served, only not counted. Once one write passed, the others are allowed.
local counted = increment(key, 'r', s.r)
if type(counted) == 'table' then return out end
if s.idle >= tonumber(ARGV[5]) then
  touch(key, s, now, p, ns, app, token)
  if ARGV[6] ~= '' and ARGV[6] ~= s.ip then redis.call('HSET', key, 'ip', ARGV[6]) end
end
return out
`);

/*
 * touch: refreshes activity for many tokens of one app without counting a read; used by the
 * cache so that users served from memory do not expire. ARGV: clock, ns, app, touchAfter (as
 * get's), token... Returns {live sessions touched, token without a live session...}.
 */
export const touchScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, after = ARGV[2], ARGV[3], tonumber(ARGV[4])
local p = ns .. app .. ':'
-- {touched, token...}: the tokens without a live session, so that a cache drops them.
local out = { 0 }
for i = 5, #ARGV do
  local key = p .. ARGV[i]
  local s = load(key, now)
  if s then
    if s.idle >= after then touch(key, s, now, p, ns, app, ARGV[i]) end
    out[1] = out[1] + 1
  else
    out[#out + 1] = ARGV[i]
  end
end
return out
`);

/*
 * set: merges changes into d atomically. ARGV: clock, ns, app, token, maxBytes, maxKeys, then
 * triples (key, key as JSON, value as JSON or "" to delete).
 *
 * d is merged as text: stored values are copied byte for byte and new ones are JSON.stringify'd
 * by the caller, so numbers keep full precision and key order is redis-sessions' (existing keys
 * keep their place, new keys are appended). cjson would round numbers to 14 digits and reorder.
 */
export const setScript = new Script(`${COMMON}${LUA_MERGE}
local now = clock(ARGV[1])
local ns, app, token = ARGV[2], ARGV[3], ARGV[4]
local maxBytes, maxKeys = tonumber(ARGV[5]), tonumber(ARGV[6])
local p = ns .. app .. ':'
local s, key
s, key, token = follow(p, token, now)
if not s then return nil end

local d, err = merge(s.d, 7, maxBytes, maxKeys)
if err then return redis.error_reply(err) end

touch(key, s, now, p, ns, app, token)
local w = increment(key, 'w', s.w)
if type(w) == 'table' then return redis.error_reply(w.err) end
if d then redis.call('HSET', key, 'd', d) else redis.call('HDEL', key, 'd') end
redis.call('PUBLISH', ns .. 'cache', app .. ':' .. token)
return reply(s, tostring(w), d)
`);

/*
 * kill. ARGV: clock, ns, app, token, id ("" for any). Returns 1 if a live session was killed;
 * debris goes too. Through a rotation alias, the session and the alias go. With an id, a session
 * of another id is left alone (kill by handle).
 */
export const killScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, token, id = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local p = ns .. app .. ':'
local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl', 'ab')
if not f[1] then
  local to = aliasOf(p .. token, now)
  if not to then return 0 end
  redis.call('DEL', p .. token)
  redis.call('PUBLISH', ns .. 'cache', app .. ':' .. token)
  token = to
  f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl', 'ab')
  if not f[1] then return 0 end
end
if id ~= '' and f[1] ~= id then return 0 end
remove(p, ns, app, token, f[1], ns .. 'cache')
if alive(now, f[2], f[3], f[4]) then return 1 end
return 0
`);

/*
 * killsoid, one bounded batch: kills up to ARGV[5] sessions of one id (SRANDMEMBER is O(batch)).
 * ARGV: clock, ns, app, id, batch. Returns {live sessions killed, tokens left, token...}; once no
 * token is left, the id leaves _users. The engine repeats it until none is left.
 */
export const killsoidScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, id = ARGV[2], ARGV[3], ARGV[4]
local p = ns .. app .. ':'
local ukey = p .. 'us:' .. id
local tokens = redis.call('SRANDMEMBER', ukey, tonumber(ARGV[5]))
local out = { 0, 0 }
-- The same removals as remove(), grouped into one multi-key command each for the batch.
local hashes, sessions, expiries = {}, {}, {}
for _, token in ipairs(tokens) do
  out[#out + 1] = token
  local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl', 'ab')
  if f[1] == id and alive(now, f[2], f[3], f[4]) then out[1] = out[1] + 1 end
  if f[1] == id or not f[1] then hashes[#hashes + 1] = p .. token end
  sessions[#sessions + 1] = token .. ':' .. id
  expiries[#expiries + 1] = app .. ':' .. token .. ':' .. id
  redis.call('PUBLISH', ns .. 'cache', app .. ':' .. token)
end
if #hashes > 0 then redis.call('DEL', unpack(hashes)) end
if #tokens > 0 then
  redis.call('ZREM', p .. '_sessions', unpack(sessions))
  redis.call('ZREM', ns .. 'SESSIONS', unpack(expiries))
  redis.call('SREM', ukey, unpack(tokens))
end
out[2] = redis.call('SCARD', ukey)
if out[2] == 0 then redis.call('ZREM', p .. '_users', id) end
return out
`);

/*
 * killall, one bounded batch: removes up to ARGV[5] sessions of an app so that a huge app never
 * blocks Redis for long. ARGV: clock, ns, app, batch. Returns {killed, remaining}.
 */
export const killallScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app = ARGV[2], ARGV[3]
local p = ns .. app .. ':'
local members = redis.call('ZRANGE', p .. '_sessions', 0, tonumber(ARGV[4]) - 1)
local n = 0
-- The same removals as remove(), grouped into one multi-key command each for the whole batch.
local hashes, expiries, users = {}, {}, {}
for _, m in ipairs(members) do
  local token, id = string.sub(m, 1, 64), string.sub(m, 66)
  local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl', 'ab')
  if f[1] == id and alive(now, f[2], f[3], f[4]) then n = n + 1 end
  if f[1] == id or not f[1] then
    hashes[#hashes + 1] = p .. token
    expiries[#expiries + 1] = app .. ':' .. m
    local tokens = users[id]
    if not tokens then
      tokens = {}
      users[id] = tokens
    end
    tokens[#tokens + 1] = token
    redis.call('PUBLISH', ns .. 'cache', app .. ':' .. token)
  end
end
-- Every examined member goes, even a malformed one, so that every batch makes progress.
if #members > 0 then redis.call('ZREM', p .. '_sessions', unpack(members)) end
if #hashes > 0 then
  redis.call('DEL', unpack(hashes))
  redis.call('ZREM', ns .. 'SESSIONS', unpack(expiries))
end
for id, tokens in pairs(users) do
  local ukey = p .. 'us:' .. id
  redis.call('SREM', ukey, unpack(tokens))
  if redis.call('SCARD', ukey) == 0 then redis.call('ZREM', p .. '_users', id) end
end
local remaining = redis.call('ZCARD', p .. '_sessions')
-- UNLINK: whatever _users still holds then is debris, freed off the main thread however large.
if remaining == 0 then redis.call('UNLINK', p .. '_users') end
return { n, remaining }
`);

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

/*
 * One SESSIONS entry of a wipe, decided by its hash (la + ttl and the absolute end, as every
 * client decides expiry): a live session of the entry's id is passed to onLive(p, token, id,
 * expiry, member) with its real expiry; a dead one (or one whose hash Redis expired) is removed
 * and listed in out; an entry whose token now names another id, or that does not parse, is
 * dropped from the index.
 */
const WIPE_ENTRY = `
local function wipeEntry(out, ns, now, m, onLive)
  local app, token, id = parseEntry(m)
  if not app then
    redis.call('ZREM', ns .. 'SESSIONS', m)
    return
  end
  local p = ns .. app .. ':'
  local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl', 'ab')
  if f[1] == id and alive(now, f[2], f[3], f[4]) then
    local expiry = num(f[2]) + num(f[3])
    if f[4] and num(f[4]) < expiry then expiry = num(f[4]) end
    onLive(p, token, id, expiry, m)
  elseif f[1] == id or not f[1] then
    remove(p, ns, app, token, id, ns .. 'cache')
    out[1] = out[1] + 1
    out[#out + 1] = app
    out[#out + 1] = token
    out[#out + 1] = id
  else
    redis.call('ZREM', ns .. 'SESSIONS', m)
  end
end
`;

/*
 * wipe, one bounded batch: removes sessions whose expiry score has passed, after re-checking
 * each against its hash, so a session that is still alive (touched by a client that left the
 * score behind) is never removed: its score is moved to its real expiry instead. A session past
 * its absolute end is removed (its hash may already be gone: Redis expired it).
 * ARGV: clock, ns, batch. Returns {removed, examined, then app, token, id of each removed}.
 */
export const wipeScript = new Script(`${COMMON}
${WIPE_ENTRY}
local now = clock(ARGV[1])
local ns = ARGV[2]
local members = redis.call('ZRANGEBYSCORE', ns .. 'SESSIONS', '-inf', '(' .. now,
  'LIMIT', 0, tonumber(ARGV[3]))
local out = { 0, #members }
-- pcall: out of memory, Redis refuses this ZADD as a script's first write; the member then
-- keeps its stale score and is looked at again next time, while the removals go on.
local function rescore(_, _, _, expiry, m) redis.pcall('ZADD', ns .. 'SESSIONS', expiry, m) end
for _, m in ipairs(members) do wipeEntry(out, ns, now, m, rescore) end
return out
`);

/*
 * wipe of the Elixir port's entries, one bounded batch. The port scores SESSIONS with the text
 * of now_ms followed by the ttl (read as a double, far above any clock), so nobody's wipe ever
 * finds them; its activity scores are milliseconds. Each entry is decided by its hash (la + ttl,
 * as every client decides expiry): an expired session is removed, a live one is rewritten in
 * redis-sessions' format (expiry la + ttl, activity in seconds), which takes it out of this
 * range. ARGV: clock, ns, batch. Returns {removed, examined, then app, token, id of each removed}.
 */
export const elixirWipeScript = new Script(`${COMMON}
${WIPE_ENTRY}
local now = clock(ARGV[1])
local ns = ARGV[2]
local members = redis.call('ZRANGEBYSCORE', ns .. 'SESSIONS', MS, '+inf',
  'LIMIT', 0, tonumber(ARGV[3]))
local out = { 0, #members }
-- A score in milliseconds as seconds; nil when the member is absent or already in seconds.
local function seconds(key, member)
  local score = tonumber(redis.call('ZSCORE', key, member))
  if score and score >= tonumber(MS) then return math.floor(score / 1000) end
  return nil
end
-- A live session in redis-sessions' format (pcall: see wipeScript; looked at again next time).
local function rewrite(p, token, id, expiry, m)
  local ok = redis.pcall('ZADD', ns .. 'SESSIONS', expiry, m)
  if type(ok) == 'table' and ok.err then return end
  local tid = token .. ':' .. id
  local s = seconds(p .. '_sessions', tid)
  if s then redis.call('ZADD', p .. '_sessions', s, tid) end
  local u = seconds(p .. '_users', id)
  if u then redis.call('ZADD', p .. '_users', u, id) end
end
for _, m in ipairs(members) do wipeEntry(out, ns, now, m, rewrite) end
return out
`);

/*
 * Repairs _users, one bounded batch of SESSIONS by rank: a live session whose id is missing from
 * its app's _users (the Elixir port's kill removes the id although the user keeps other
 * sessions) puts it back, with its session's activity. ARGV: clock, ns, first rank, count.
 * Returns {repaired, examined, app...} (the distinct apps seen, for repairUsersScript).
 */
export const repairSessionsScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, first = ARGV[2], tonumber(ARGV[3])
local members = redis.call('ZRANGE', ns .. 'SESSIONS', first, first + tonumber(ARGV[4]) - 1)
local out, apps = { 0, #members }, {}
for _, m in ipairs(members) do
  local app, token, id = parseEntry(m)
  if app then
    local p = ns .. app .. ':'
    if not apps[app] then
      apps[app] = true
      out[#out + 1] = app
    end
    if not redis.call('ZSCORE', p .. '_users', id) then
      local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl', 'ab')
      if f[1] == id and alive(now, f[2], f[3], f[4]) then
        local at = tonumber(redis.call('ZSCORE', p .. '_sessions', token .. ':' .. id))
          or tonumber(f[2])
        if at >= tonumber(MS) then at = math.floor(at / 1000) end
        redis.call('ZADD', p .. '_users', 'GT', at, id)
        out[1] = out[1] + 1
      end
    end
  end
end
return out
`);

/*
 * Repairs _users, one bounded batch of one app's _users by rank: an id without any token left
 * (its set us:{id} is gone) leaves _users. ARGV: ns, app, first rank, count.
 * Returns {removed, examined}.
 */
export const repairUsersScript = new Script(`
local p = ARGV[1] .. ARGV[2] .. ':'
local first = tonumber(ARGV[3])
local ids = redis.call('ZRANGE', p .. '_users', first, first + tonumber(ARGV[4]) - 1)
local removed = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', p .. 'us:' .. id) == 0 then
    redis.call('ZREM', p .. '_users', id)
    removed = removed + 1
  end
end
return { removed, #ids }
`);

/*
 * rotate: moves a live session to a new token (same id, counters, data and our fields) and
 * removes the old one, atomically. With a grace, the old key becomes an alias {rt, re} that
 * expires with the grace (v4 and the Elixir port see no session there: it has no id); without
 * one, the old token is dead the moment the new one exists. Through an alias, the session it
 * names is rotated. ARGV: clock, ns, app, token, new token, grace seconds.
 * Returns the session's id and the token rotated from, or nil if the session is gone.
 */
export const rotateScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, next, grace = ARGV[2], ARGV[3], ARGV[5], tonumber(ARGV[6])
local p = ns .. app .. ':'
local s, key, token = follow(p, ARGV[4], now)
if not s then return nil end
if redis.call('EXISTS', p .. next) == 1 then
  return redis.error_reply('ERS_TOKEN_COLLISION token already in use')
end
local fields = movedFields(key, s, now)
remove(p, ns, app, token, s.id, ns .. 'cache')
local tokenid = next .. ':' .. s.id
redis.call('HSET', p .. next, unpack(fields))
if s.ab then expireAt(p .. next, num(s.ab), now, ARGV[1] == '') end
redis.call('ZADD', p .. '_sessions', now, tokenid)
redis.call('ZADD', p .. '_users', now, s.id)
redis.call('ZADD', ns .. 'SESSIONS', ends(now, s), app .. ':' .. tokenid)
redis.call('SADD', p .. 'us:' .. s.id, next)
if grace > 0 then
  local re = now + grace
  redis.call('HSET', key, 'rt', next, 're', re)
  expireAt(key, re, now, ARGV[1] == '')
end
return { s.id, token }
`);

/*
 * import (migration): copies one session into the compat layout, keeping token, counters, data
 * and expiry; only a newer copy replaces an existing one. ARGV: ns (without its colon), app,
 * token, field pairs, "", seconds to keep the marker set. The token also goes into
 * `{ns}:{app}:_migrated` (not a redis-sessions key) for a later prune.
 */
export const importScript = new Script(`${LUA_IMPORT}
local ns, app, token = ARGV[1], ARGV[2], ARGV[3]
local p = ns .. ':' .. app .. ':'
local key = p .. token
local fields, f, i = imported(4)
local ttlKeep = tonumber(ARGV[i + 1])
local skip = importedAlready(key, f)
if skip then return skip end
redis.call('DEL', key)
redis.call('HSET', key, unpack(fields))
local la = tonumber(f.la) or 0
local tid = token .. ':' .. f.id
redis.call('ZADD', p .. '_sessions', la, tid)
redis.call('ZADD', p .. '_users', 'GT', la, f.id)
redis.call('ZADD', ns .. ':SESSIONS', la + (tonumber(f.ttl) or 0), app .. ':' .. tid)
redis.call('SADD', p .. 'us:' .. f.id, token)
redis.call('SADD', p .. '_migrated', token)
redis.call('EXPIRE', p .. '_migrated', ttlKeep)
return 1
`);
