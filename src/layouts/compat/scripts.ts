import { LUA_CLOCK, LUA_CREATE, LUA_IMPORT, LUA_LOAD, LUA_MERGE, LUA_REPLY } from "../lua.js";
import { Script } from "../script.js";

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

const COMMON = `
${LUA_CLOCK}
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
-- Refreshes activity exactly as redis-sessions does. For no_resave the remaining ttl is written
-- back together with la, so the absolute expiry la + ttl never moves (v4 drifted by 1 s a call).
-- At idle 0 there is nothing to do: whoever set la to this second (us or redis-sessions) set the
-- three scores to the same values in the same step, and skipping four writes halves the cost.
local function touch(key, s, now, p, ns, app, token)
  if s.idle <= 0 then return end
  local tokenid = token .. ':' .. s.id
  redis.call('ZADD', p .. '_sessions', now, tokenid)
  redis.call('ZADD', p .. '_users', now, s.id)
  redis.call('ZADD', ns .. 'SESSIONS', now + s.ttl, app .. ':' .. tokenid)
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
 * create. KEYS: none (all derived). ARGV: clock, ns, app, token, id, ip, ttl, d, no_resave.
 * A resend of the same create (same token and id) is a no-op, so a lost reply cannot duplicate it.
 */
export const createScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, token, id = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local p = ns .. app .. ':'
local key = p .. token
local done = existing(key, id)
if done then return done end
local ttl = tonumber(ARGV[7])
local tokenid = token .. ':' .. id
redis.call('ZADD', p .. '_sessions', now, tokenid)
redis.call('ZADD', p .. '_users', now, id)
redis.call('ZADD', ns .. 'SESSIONS', now + ttl, app .. ':' .. tokenid)
redis.call('SADD', p .. 'us:' .. id, token)
redis.call('HSET', key, unpack(newFields(id, ARGV[6], now, ARGV[7], ARGV[8], ARGV[9])))
return 1
`);

/*
 * get. ARGV: clock, ns, app, token, touch ("1" counts the read and refreshes activity).
 * Returns the session as it was before this read (redis-sessions returns r before HINCRBY).
 */
export const getScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, token = ARGV[2], ARGV[3], ARGV[4]
local p = ns .. app .. ':'
local key = p .. token
local s = load(key, now)
if not s then return nil end
if ARGV[5] == '1' then
  -- Redis refuses a script's first write when it is out of memory (or a read-only replica); the
  -- read is then still served, only not counted. Once one write passed, the others are allowed.
  local counted = redis.pcall('HINCRBY', key, 'r', 1)
  if type(counted) == 'table' and counted.err then return reply(s, s.w, s.d) end
  touch(key, s, now, p, ns, app, token)
end
return reply(s, s.w, s.d)
`);

/*
 * touch: refreshes activity for many tokens of one app without counting a read; used by the
 * cache so that users served from memory do not expire. ARGV: clock, ns, app, token...
 */
export const touchScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app = ARGV[2], ARGV[3]
local p = ns .. app .. ':'
local n = 0
for i = 4, #ARGV do
  local key = p .. ARGV[i]
  local s = load(key, now)
  if s then touch(key, s, now, p, ns, app, ARGV[i]); n = n + 1 end
end
return n
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
local key = p .. token
local s = load(key, now)
if not s then return nil end

local d, err = merge(s.d, 7, maxBytes, maxKeys)
if err then return redis.error_reply(err) end

touch(key, s, now, p, ns, app, token)
local w = redis.call('HINCRBY', key, 'w', 1)
if d then redis.call('HSET', key, 'd', d) else redis.call('HDEL', key, 'd') end
redis.call('PUBLISH', ns .. 'cache', app .. ':' .. token)
return reply(s, tostring(w), d)
`);

/* kill. ARGV: clock, ns, app, token. Returns 1 if a live session was killed; debris goes too. */
export const killScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, token = ARGV[2], ARGV[3], ARGV[4]
local p = ns .. app .. ':'
local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl')
if not f[1] then return 0 end
remove(p, ns, app, token, f[1], ns .. 'cache')
if alive(now, f[2], f[3]) then return 1 end
return 0
`);

/*
 * killsoid: kills every session of one id atomically, so a session created meanwhile cannot
 * survive "log out everywhere". ARGV: clock, ns, app, id. Returns {live sessions killed, token...}.
 */
export const killsoidScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, id = ARGV[2], ARGV[3], ARGV[4]
local p = ns .. app .. ':'
local n = 0
local out = { 0 }
for _, token in ipairs(redis.call('SMEMBERS', p .. 'us:' .. id)) do
  out[#out + 1] = token
  local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl')
  if f[1] == id and alive(now, f[2], f[3]) then n = n + 1 end
  if f[1] == id or not f[1] then redis.call('DEL', p .. token) end
  redis.call('ZREM', p .. '_sessions', token .. ':' .. id)
  redis.call('ZREM', ns .. 'SESSIONS', app .. ':' .. token .. ':' .. id)
  redis.call('PUBLISH', ns .. 'cache', app .. ':' .. token)
end
redis.call('DEL', p .. 'us:' .. id)
redis.call('ZREM', p .. '_users', id)
out[1] = n
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
  local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl')
  if f[1] == id and alive(now, f[2], f[3]) then n = n + 1 end
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
if remaining == 0 then redis.call('DEL', p .. '_users') end
return { n, remaining }
`);

/* soid: the live sessions of one id, with their tokens; reads only. ARGV: clock, ns, app, id. */
export const soidScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, id = ARGV[2], ARGV[3], ARGV[4]
local p = ns .. app .. ':'
local out = {}
for _, token in ipairs(redis.call('SMEMBERS', p .. 'us:' .. id)) do list(out, p, token, now, id) end
return out
`);

/*
 * soapp: the live sessions of an app active within deltaTime, most recent first; reads only.
 * ARGV: clock, ns, app, deltaTime.
 */
export const soappScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app = ARGV[2], ARGV[3]
local p = ns .. app .. ':'
local out = {}
-- Inclusive, as redis-sessions: a session active exactly deltaTime ago is listed.
local members = redis.call('ZRANGE', p .. '_sessions', '+inf', now - tonumber(ARGV[4]),
  'BYSCORE', 'REV')
for _, m in ipairs(members) do list(out, p, string.sub(m, 1, 64), now) end
return out
`);

/*
 * activity: the number of ids active within deltaTime, the bound included as in redis-sessions.
 * ARGV: clock, ns, app, deltaTime.
 */
export const activityScript = new Script(`${COMMON}
local now = clock(ARGV[1])
return redis.call('ZCOUNT', ARGV[2] .. ARGV[3] .. ':_users', now - tonumber(ARGV[4]), '+inf')
`);

/*
 * wipe, one bounded batch: removes sessions whose expiry score has passed, after re-checking
 * each against its hash, so a session that is still alive (touched by a client that left the
 * score behind) is never removed: its score is moved to its real expiry instead.
 * ARGV: clock, ns, batch. Returns {removed, examined}.
 */
export const wipeScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns = ARGV[2]
local members = redis.call('ZRANGEBYSCORE', ns .. 'SESSIONS', '-inf', '(' .. now,
  'LIMIT', 0, tonumber(ARGV[3]))
local removed = 0
for _, m in ipairs(members) do
  local c = string.find(m, ':', 1, true)
  local app = c and string.sub(m, 1, c - 1)
  local token = c and string.sub(m, c + 1, c + 64)
  local id = c and string.sub(m, c + 66)
  if not c or #token ~= 64 or id == '' then
    redis.call('ZREM', ns .. 'SESSIONS', m)
  else
    local p = ns .. app .. ':'
    local f = redis.call('HMGET', p .. token, 'id', 'la', 'ttl')
    if f[1] == id and alive(now, f[2], f[3]) then
      -- pcall: out of memory, Redis refuses this ZADD as a script's first write; the member then
      -- keeps its stale score and is looked at again next time, while the removals go on.
      redis.pcall('ZADD', ns .. 'SESSIONS', (tonumber(f[2]) or 0) + (tonumber(f[3]) or 0), m)
    elseif f[1] == id or not f[1] then
      remove(p, ns, app, token, id, ns .. 'cache')
      removed = removed + 1
    else
      redis.call('ZREM', ns .. 'SESSIONS', m)
    end
  end
end
return { removed, #members }
`);

/*
 * rotate: moves a live session to a new token (same id, counters and data) and removes the old
 * one, atomically, so the old token is dead the moment the new one exists.
 * ARGV: clock, ns, app, token, new token. Returns 1, or 0 if the session is gone.
 */
export const rotateScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, token, next = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local p = ns .. app .. ':'
local s = load(p .. token, now)
if not s then return 0 end
if redis.call('EXISTS', p .. next) == 1 then
  return redis.error_reply('ERS_TOKEN_COLLISION token already in use')
end
local fields = {'id', s.id, 'r', s.r or 1, 'w', s.w or 1, 'ip', s.ip or '', 'la', now, 'ttl', s.ttl}
if s.d then fields[#fields + 1] = 'd'; fields[#fields + 1] = s.d end
if s.noresave then fields[#fields + 1] = 'no_resave'; fields[#fields + 1] = 1 end
remove(p, ns, app, token, s.id, ns .. 'cache')
local tokenid = next .. ':' .. s.id
redis.call('HSET', p .. next, unpack(fields))
redis.call('ZADD', p .. '_sessions', now, tokenid)
redis.call('ZADD', p .. '_users', now, s.id)
redis.call('ZADD', ns .. 'SESSIONS', now + s.ttl, app .. ':' .. tokenid)
redis.call('SADD', p .. 'us:' .. s.id, next)
return 1
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
