import { LUA_MERGE } from "../lua.js";
import { LUA_IMPORT } from "../lua-create.js";
import { Script } from "../script.js";
import { COMMON } from "./common-lua.js";

/*
 * The compat layout's scripts on one session (create, get, touch, set, kill, rotate, import);
 * the Lua they share is in common-lua.ts, listings in listing-scripts.ts and operations over many
 * sessions in app-wide-scripts.ts, re-exported here so that callers import one module.
 */

export * from "./app-wide-scripts.js";
export * from "./listing-scripts.js";

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
  local evict = overCap(live, cap, ARGV[14])
  if type(evict) == 'table' then return evict end
  for i = 1, evict do
    remove(p, ns, app, live[i][1], id, ns .. 'cache')
    out[#out + 1] = live[i][1]
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
 * rotate: moves a live session to a new token (same id, counters, data and our fields) and
 * removes the old one, atomically. With a grace, the old key becomes an alias {rt, re} that
 * expires with the grace (v4 and the Elixir port see no session there: it has no id); without
 * one, the old token is dead the moment the new one exists. An alias is not followed: whoever
 * holds an old token must not rotate the session away from its new holder into a token of their
 * own. ARGV: clock, ns, app, token, new token, grace seconds.
 * Returns the session's id and the token rotated from, or nil if the session is gone.
 */
export const rotateScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app, next, grace = ARGV[2], ARGV[3], ARGV[5], tonumber(ARGV[6])
local p = ns .. app .. ':'
local token = ARGV[4]
local key = p .. token
local s = load(key, now)
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
local expiry = la + (tonumber(f.ttl) or 0)
-- An absolute end binds every client here too (see create); the migration copies live ones only.
local ab = tonumber(f.ab)
if ab then
  redis.call('PEXPIREAT', key, math.floor(ab * 1000))
  if ab < expiry then expiry = ab end
end
local tid = token .. ':' .. f.id
redis.call('ZADD', p .. '_sessions', la, tid)
redis.call('ZADD', p .. '_users', 'GT', la, f.id)
redis.call('ZADD', ns .. ':SESSIONS', expiry, app .. ':' .. tid)
redis.call('SADD', p .. 'us:' .. f.id, token)
redis.call('SADD', p .. '_migrated', token)
redis.call('EXPIRE', p .. '_migrated', ttlKeep)
return 1
`);
