import { Script } from "../script.js";
import { COMMON } from "./common-lua.js";

/* The compat layout's scripts over many sessions (killsoid, killall, the wipes), each one bounded batch. */

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
