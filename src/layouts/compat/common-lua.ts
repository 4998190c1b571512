import { LUA_CLOCK, LUA_LOAD, LUA_REPLY } from "../lua.js";
import { LUA_CREATE } from "../lua-create.js";

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
