import { LUA_CLOCK, LUA_LOAD, LUA_REPLY } from "../lua.js";
import { LUA_CREATE, LUA_IMPORT } from "../lua-create.js";

/*
 * The cluster layout's scripts (keys.ts). Each one runs in one bucket and declares
 * every key it touches in KEYS, all in the bucket's slot, so it works on Redis Cluster (and on
 * Dragonfly, which forbids undeclared keys). `#!lua` scripts carry flags: `no-writes` for reads
 * (they also run on replicas and when Redis is out of memory), `allow-oom` for the ones that
 * only shrink memory or rewrite fields in place (get's touch, kill, wipe).
 *
 * A script that must find sessions through an index first (killsoid, soid, soapp, killall,
 * wipe) runs in two steps: a bounded read of the index, then a script that declares the hashes
 * found. Each step handles a bounded batch; the engine repeats them.
 *
 * KEYS[1..3] are always the bucket's indexes: _sessions, _users, _ut (see the layout).
 */

/** The Lua every script of this layout starts with (also account-scripts.ts). */
export const BUCKET = `${LUA_CLOCK}${LUA_LOAD}${LUA_REPLY}${LUA_CREATE}${LUA_IMPORT}
local S, U, X = KEYS[1], KEYS[2], KEYS[3]

-- _ut members are id, NUL, token. A token is 64 characters, so a member belongs to id exactly
-- when it is in id's range and #id + 65 bytes long (an id may itself contain a NUL). Up to n
-- tokens of id past the token prefix after ("" for the first), and whether more may follow.
local function tokensOf(id, after, n)
  local out, size = {}, #id + 65
  local from = '[' .. id .. '\\0'
  -- Tokens are alphanumeric: every token that starts with the prefix sorts before prefix .. 0xff.
  if after ~= '' then from = '(' .. id .. '\\0' .. after .. '\\255' end
  local got = redis.call('ZRANGE', X, from, '(' .. id .. '\\1', 'BYLEX', 'LIMIT', 0, n)
  for _, m in ipairs(got) do
    if #m == size then out[#out + 1] = string.sub(m, -64) end
  end
  local last = got[#got]
  return out, #got == n and string.sub(last, #id + 2, #id + 17) or nil
end

-- Whether id still has a token here (members of other ids that start with id and a NUL are
-- skipped, up to a bound).
local function hasTokens(id)
  local tokens, more = tokensOf(id, '', 100)
  for _ = 1, 10 do
    if #tokens > 0 or not more then break end
    tokens, more = tokensOf(id, more, 100)
  end
  return #tokens > 0
end

local function unindex(token, id)
  redis.call('ZREM', S, token .. ':' .. id)
  redis.call('ZREM', X, id .. '\\0' .. token)
end

-- Removes one session and its index entries; drops the id from _users once it has no session.
local function remove(key, token, id, channel, app)
  redis.call('DEL', key)
  unindex(token, id)
  if not hasTokens(id) then redis.call('ZREM', U, id) end
  redis.call('PUBLISH', channel, app .. ':' .. token)
end

-- The hash's own expiry: one second past the idle end, so Redis never drops a session the
-- clock still calls alive, or the absolute end when that comes first (it binds every client).
-- For scripts whose ARGV[1] is the clock.
local function expire(key, ttl, ab, now)
  if ab and num(ab) <= now + ttl + 1 then return expireAt(key, num(ab), now, ARGV[1] == '') end
  return redis.call('EXPIRE', key, ttl + 1)
end

-- Refreshes activity as the compat layout does, plus the hash's own expiry (see expire). A
-- no_resave session keeps the expiry it got at create.
local function touch(key, s, now, token)
  local tid = token .. ':' .. s.id
  redis.call('ZADD', S, now, tid)
  redis.call('ZADD', U, now, s.id)
  if s.idle > 0 then
    if s.noresave then
      redis.call('HSET', key, 'la', now, 'ttl', s.ttl)
    else
      redis.call('HSET', key, 'la', now)
    end
  end
  if not s.noresave then expire(key, s.ttl, s.ab, now) end
end

-- A rotation alias at key: the status reply "=token" (the engine runs the operation again for
-- that token), or nil.
local function aliased(key, now)
  local to = aliasOf(key, now)
  if to then return redis.status_reply('=' .. to) end
  return nil
end

-- A token migrated from the compat layout routes here but lives in its user's bucket: its
-- pointer ("bucket:ttl") says which. Returns the status reply ">bucket:ttl", or nil. Following
-- a pointer for activity keeps it alive as long as the session it points to.
local function moved(key, pointer, refresh)
  if redis.call('EXISTS', key) == 1 then return nil end
  local to = redis.call('GET', pointer)
  if not to then return nil end
  if refresh then
    local ttl = tonumber(string.match(to, ':(%d+)$'))
    if ttl then redis.call('EXPIRE', pointer, ttl + 5) end
  end
  return redis.status_reply('>' .. to)
end
`;
