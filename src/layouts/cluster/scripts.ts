import { LUA_CLOCK, LUA_LOAD, LUA_MERGE, LUA_REPLY } from "../lua.js";
import { LUA_CREATE, LUA_IMPORT } from "../lua-create.js";
import { Script } from "../script.js";
import { LUA_WALK } from "../walk-scripts.js";

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

/*
 * create. KEYS: indexes, session, then the sessions of the id's tokens (with a cap). ARGV: clock,
 * token, id, ip, ttl, d, no_resave, ua, absolute ('' for none), csrf token, cap (0: none),
 * "evict" | "refuse", channel, app, then the id's tokens whose keys follow. A resend of the same create (same
 * token and id) is a no-op. With a cap, the id's live sessions are counted atomically with the
 * write, as in the compat layout; when the id has a token that the engine did not declare (a
 * concurrent create), the status "!retry" asks the engine to read them again.
 * Returns {1, evicted token...}.
 */
export const createScript = new Script(`#!lua
${BUCKET}
local now = clock(ARGV[1])
local key, token, id = KEYS[4], ARGV[2], ARGV[3]
local done = existing(key, id)
if done then return { done } end
local out = { 1 }
local cap = tonumber(ARGV[11])
if cap > 0 then
  local declared = {}
  for i = 15, #ARGV do declared[ARGV[i]] = i - 10 end
  local live = {}
  local after = ''
  for _ = 1, 10 do
    local tokens, more = tokensOf(id, after, 1000)
    for _, t in ipairs(tokens) do
      if not declared[t] then return redis.status_reply('!retry') end
      local key = KEYS[declared[t]]
      local f = redis.call('HMGET', key, 'id', 'la', 'ttl', 'ab')
      if f[1] == id and alive(now, f[2], f[3], f[4]) then
        live[#live + 1] = { t, num(f[2]), declared[t] }
      else
        -- Dead (or another id's hash under this token): only our index entries go.
        unindex(t, id)
        if f[1] == id then redis.call('DEL', key) end
      end
    end
    if not more then break end
    after = more
  end
  if #live >= cap then
    if ARGV[12] == 'refuse' then
      return redis.error_reply('ERS_SESSION_LIMIT at most ' .. cap .. ' sessions per user')
    end
    table.sort(live, function(a, b)
      if a[2] ~= b[2] then return a[2] < b[2] end
      return a[1] < b[1]
    end)
    for i = 1, #live - cap + 1 do
      redis.call('DEL', KEYS[live[i][3]])
      unindex(live[i][1], id)
      redis.call('PUBLISH', ARGV[13], ARGV[14] .. ':' .. live[i][1])
      out[#out + 1] = live[i][1]
    end
  end
end
local ttl = tonumber(ARGV[5])
redis.call('ZADD', S, now, token .. ':' .. id)
redis.call('ZADD', U, now, id)
redis.call('ZADD', X, 0, id .. '\\0' .. token)
local extra = { ARGV[8], ARGV[9], ARGV[10] }
redis.call('HSET', key, unpack(newFields(id, ARGV[4], now, ARGV[5], ARGV[6], ARGV[7], extra)))
local ab = nil
if ARGV[9] ~= '' then ab = now + tonumber(ARGV[9]) end
expire(key, ttl, ab, now)
return out
`);

/*
 * get. KEYS: indexes, session, pointer. ARGV: clock, token, touchAfter, ip ("" for none): the
 * read is counted, and refreshes activity once the session has been idle that many seconds (0:
 * every read); a refresh also keeps ip as the last one.
 * Returns the session as it was before this read, nil, ">bucket:ttl" or "=token" (an alias).
 */
export const getScript = new Script(`#!lua flags=allow-oom
${BUCKET}
local now = clock(ARGV[1])
local key, token = KEYS[4], ARGV[2]
local s = load(key, now)
if not s then return aliased(key, now) or moved(key, KEYS[5], true) end
if s.idle >= tonumber(ARGV[3]) then
  touch(key, s, now, token)
  if ARGV[4] ~= '' and ARGV[4] ~= s.ip then redis.call('HSET', key, 'ip', ARGV[4]) end
end
local counted = increment(key, 'r', s.r)
if type(counted) == 'table' then return redis.error_reply(counted.err) end
return reply(s, s.w, s.d)
`);

/*
 * touch: refreshes activity of many tokens of one bucket without counting a read.
 * KEYS: indexes, then session and pointer of each token. ARGV: clock, touchAfter (as get's),
 * token... Returns {live, then token, ">bucket:ttl" (lives in another bucket) or false (gone)...}.
 */
export const touchScript = new Script(`#!lua flags=allow-oom
${BUCKET}
local now = clock(ARGV[1])
local after = tonumber(ARGV[2])
local out = { 0 }
for i = 3, #ARGV do
  local key, pointer = KEYS[2 * i - 2], KEYS[2 * i - 1]
  local s = load(key, now)
  if s then
    if s.idle >= after then touch(key, s, now, ARGV[i]) end
    out[1] = out[1] + 1
  else
    local to = moved(key, pointer, true)
    out[#out + 1] = ARGV[i]
    -- ">bucket:ttl" when it lives elsewhere; false (a null reply) when it is gone.
    out[#out + 1] = to and to.ok or false
  end
end
return out
`);

/*
 * set: merges changes into d atomically (the compat layout's text-level merge).
 * KEYS: indexes, session, pointer. ARGV: clock, channel, app, token, maxBytes, maxKeys, then
 * triples (key, key as JSON, value as JSON or "" to delete).
 */
export const setScript = new Script(`#!lua
${BUCKET}${LUA_MERGE}
local now = clock(ARGV[1])
local key, channel, app, token = KEYS[4], ARGV[2], ARGV[3], ARGV[4]
local s = load(key, now)
if not s then return aliased(key, now) or moved(key, KEYS[5], true) end
local d, err = merge(s.d, 7, tonumber(ARGV[5]), tonumber(ARGV[6]))
if err then return redis.error_reply(err) end
touch(key, s, now, token)
local w = increment(key, 'w', s.w)
if type(w) == 'table' then return redis.error_reply(w.err) end
if d then redis.call('HSET', key, 'd', d) else redis.call('HDEL', key, 'd') end
redis.call('PUBLISH', channel, app .. ':' .. token)
return reply(s, tostring(w), d)
`);

/*
 * kill. KEYS: indexes, session, pointer. ARGV: clock, channel, app, token, id ("" for any).
 * Returns 1 if a live session was killed, 0 otherwise, ">bucket:ttl", or "=token" after removing
 * a rotation alias (the engine then kills that token); debris goes too. With an id, a session of
 * another id is left alone (kill by handle).
 */
export const killScript = new Script(`#!lua flags=allow-oom
${BUCKET}
local now = clock(ARGV[1])
local key, channel, app, token, id = KEYS[4], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local f = redis.call('HMGET', key, 'id', 'la', 'ttl', 'ab')
if not f[1] then
  local alias = aliased(key, now)
  if alias then
    redis.call('DEL', key)
    redis.call('PUBLISH', channel, app .. ':' .. token)
    return alias
  end
  local to = moved(key, KEYS[5], false)
  if to then return to end
  redis.call('DEL', key)
  return 0
end
if id ~= '' and f[1] ~= id then return 0 end
remove(key, token, f[1], channel, app)
if alive(now, f[2], f[3], f[4]) then return 1 end
return 0
`);

/*
 * rotate: moves a live session to a new token of the same bucket, atomically; with a grace, the
 * old key becomes an alias {rt, re} that expires with the grace (see the compat layout).
 * KEYS: indexes, session, new session, pointer. ARGV: clock, channel, app, token, new token,
 * grace seconds. Returns the session's id, 0 if the session is gone, ">bucket:ttl", or
 * "=token" for an alias (the engine rotates that token instead).
 */
export const rotateScript = new Script(`#!lua
${BUCKET}
local now = clock(ARGV[1])
local key, nextKey = KEYS[4], KEYS[5]
local channel, app, token, next = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local grace = tonumber(ARGV[6])
local s = load(key, now)
if not s then return aliased(key, now) or moved(key, KEYS[6], true) or 0 end
if redis.call('EXISTS', nextKey) == 1 then
  return redis.error_reply('ERS_TOKEN_COLLISION token already in use')
end
local fields = movedFields(key, s, now)
remove(key, token, s.id, channel, app)
redis.call('HSET', nextKey, unpack(fields))
if s.noresave then
  redis.call('EXPIRE', nextKey, s.ttl + 1)
else
  expire(nextKey, s.ttl, s.ab, now)
end
redis.call('ZADD', S, now, next .. ':' .. s.id)
redis.call('ZADD', U, now, s.id)
redis.call('ZADD', X, 0, s.id .. '\\0' .. next)
if grace > 0 then
  local re = now + grace
  redis.call('HSET', key, 'rt', next, 're', re)
  expireAt(key, re, now, ARGV[1] == '')
end
return { s.id }
`);

/*
 * Up to count tokens of one id in a bucket, past a token prefix (the first step of soid and
 * killsoid). KEYS: indexes. ARGV: id, after (hex, "" for the start), count.
 * Returns {where to go on (hex) or false at the end, token...}.
 */
export const tokensScript = new Script(`#!lua flags=no-writes
${BUCKET}${LUA_WALK}
local tokens, more = tokensOf(ARGV[1], unhex(ARGV[2]), tonumber(ARGV[3]))
local out = { more and hex(more) or false }
for _, t in ipairs(tokens) do out[#out + 1] = t end
return out
`);

/*
 * killsoid, second step for one batch of tokens. KEYS: indexes, the session of each token.
 * ARGV: clock, channel, app, id, token... Tokens that no longer belong to the id are left alone.
 * Returns {live sessions killed, 1 if the id has tokens left else 0, token killed...}; once none
 * is left the id leaves _users.
 */
export const killsoidScript = new Script(`#!lua flags=allow-oom
${BUCKET}
local now = clock(ARGV[1])
local channel, app, id = ARGV[2], ARGV[3], ARGV[4]
local out = { 0, 0 }
local hashes, sessions, uts = {}, {}, {}
for i = 5, #ARGV do
  local token, key = ARGV[i], KEYS[i - 1]
  local ut = id .. '\\0' .. token
  if redis.call('ZSCORE', X, ut) then
    out[#out + 1] = token
    local f = redis.call('HMGET', key, 'id', 'la', 'ttl', 'ab')
    if f[1] == id and alive(now, f[2], f[3], f[4]) then out[1] = out[1] + 1 end
    if f[1] == id or not f[1] then hashes[#hashes + 1] = key end
    sessions[#sessions + 1] = token .. ':' .. id
    uts[#uts + 1] = ut
    redis.call('PUBLISH', channel, app .. ':' .. token)
  end
end
if #hashes > 0 then redis.call('DEL', unpack(hashes)) end
if #uts > 0 then
  redis.call('ZREM', S, unpack(sessions))
  redis.call('ZREM', X, unpack(uts))
end
if hasTokens(id) then out[2] = 1 else redis.call('ZREM', U, id) end
return out
`);

/*
 * Reads sessions whose keys are given: soid's and soapp's second step. KEYS: indexes, then the
 * session of each token. ARGV: clock, id ("" for any), token... Returns token, session, ...
 */
export const readScript = new Script(`#!lua flags=no-writes
${BUCKET}
local now = clock(ARGV[1])
local id = ARGV[2]
local out = {}
for i = 3, #ARGV do
  local s = load(KEYS[i + 1], now)
  if s and (id == '' or s.id == id) then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = reply(s, s.w, s.d)
  end
end
return out
`);

/*
 * A bounded walk of _sessions (soapp's and the wipe's first step): up to count members with a
 * score in [from, to], "desc" or "asc", just past a position (see walk-scripts.ts).
 * KEYS: indexes. ARGV: clock, from (seconds before now; "" for -inf), to ("now" or "+inf"),
 * direction, count, position range ("s", "m" or "" for the start), score, member prefix in hex.
 * Returns {1 if the walk may go on else 0, member, score, member, score, ...}.
 */
export const walkScript = new Script(`#!lua flags=no-writes
${BUCKET}${LUA_WALK}
local now = clock(ARGV[1])
local lo = ARGV[2] == '' and '-inf' or num(now - tonumber(ARGV[2]))
local hi = ARGV[3] == 'now' and '(' .. num(now) or '+inf'
local n = tonumber(ARGV[5])
local range, score = ARGV[6], ARGV[7]
local p = nil
if range == 's' then p = score elseif range == 'm' then p = num(tonumber(score) / 1000) end
local got = walk(S, lo, hi, ARGV[4] == 'desc', p, unhex(ARGV[8]), n)
local out = { #got == n and 1 or 0 }
for _, e in ipairs(got) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2]
end
return out
`);

/*
 * activity of one bucket: ids (or, with "s", sessions) active within deltaTime.
 * KEYS: indexes. ARGV: clock, deltaTime, "u" or "s".
 */
export const activityScript = new Script(`#!lua flags=no-writes
${BUCKET}
local now = clock(ARGV[1])
local index = KEYS[2]
if ARGV[3] == 's' then index = KEYS[1] end
return redis.call('ZCOUNT', index, now - tonumber(ARGV[2]), '+inf')
`);

/*
 * Removes a batch of sessions and their index entries with one multi-key command each (what
 * remove() does one by one): hashes, _sessions members, _ut members, then the ids left without a
 * token leave _users. `gone` is a list of {key, token, id}; `members` the _sessions members.
 */
const REMOVE_BATCH = `
local function removeAll(gone, members, channel, app)
  local keys, uts, ids = {}, {}, {}
  for _, g in ipairs(gone) do
    keys[#keys + 1] = g[1]
    uts[#uts + 1] = g[3] .. '\\0' .. g[2]
    ids[g[3]] = true
    redis.call('PUBLISH', channel, app .. ':' .. g[2])
  end
  if #keys > 0 then
    redis.call('DEL', unpack(keys))
    redis.call('ZREM', X, unpack(uts))
  end
  if #members > 0 then redis.call('ZREM', S, unpack(members)) end
  for id in pairs(ids) do
    if not hasTokens(id) then redis.call('ZREM', U, id) end
  end
end
`;

/*
 * killall, second step for one batch of _sessions members. KEYS: indexes, then the session of
 * each member. ARGV: clock, channel, app, member... Returns {killed, remaining}.
 */
export const killallScript = new Script(`#!lua flags=allow-oom
${BUCKET}${REMOVE_BATCH}
local now = clock(ARGV[1])
local channel, app = ARGV[2], ARGV[3]
local n = 0
local gone, members = {}, {}
for i = 4, #ARGV do
  local m, key = ARGV[i], KEYS[i]
  local token, id = string.sub(m, 1, 64), string.sub(m, 66)
  local f = redis.call('HMGET', key, 'id', 'la', 'ttl', 'ab')
  if f[1] == id and alive(now, f[2], f[3], f[4]) then n = n + 1 end
  if f[1] == id or not f[1] then gone[#gone + 1] = { key, token, id } end
  -- Every member examined goes, even a malformed one, so every batch makes progress.
  members[#members + 1] = m
end
removeAll(gone, members, channel, app)
local remaining = redis.call('ZCARD', S)
-- No session left: whatever the other indexes still hold is debris (freed off the main thread).
if remaining == 0 then redis.call('UNLINK', U, X) end
return { n, remaining }
`);

/*
 * wipe, second step for members of _sessions idle for a while (walkScript finds them): the
 * index entries of a session whose hash has expired (Redis dropped it) or is expired go.
 * KEYS: indexes, then the session of each member. ARGV: clock, channel, app, member...
 * Returns {removed, examined, then token, id of each removed}.
 */
export const wipeScript = new Script(`#!lua flags=allow-oom
${BUCKET}${REMOVE_BATCH}
local now = clock(ARGV[1])
local channel, app = ARGV[2], ARGV[3]
local gone, members = {}, {}
for i = 4, #ARGV do
  local m, key = ARGV[i], KEYS[i]
  local token, id = string.sub(m, 1, 64), string.sub(m, 66)
  if #token ~= 64 or id == '' or string.sub(m, 65, 65) ~= ':' then
    members[#members + 1] = m
  else
    local f = redis.call('HMGET', key, 'id', 'la', 'ttl', 'ab')
    if f[1] == id and alive(now, f[2], f[3], f[4]) then
      -- alive: nothing to do
    elseif f[1] == id or not f[1] then
      gone[#gone + 1] = { key, token, id }
      members[#members + 1] = m
    else
      members[#members + 1] = m
    end
  end
end
removeAll(gone, members, channel, app)
local out = { #gone, #ARGV - 3 }
for _, g in ipairs(gone) do
  out[#out + 1] = g[2]
  out[#out + 1] = g[3]
end
return out
`);

/*
 * Copies one session into its bucket (migration), keeping its token, counters, data and expiry.
 * Only a newer copy (more writes, or later activity) replaces an existing one, so a copy can be
 * run again to resume or to catch up. KEYS: indexes, session. ARGV: token, then the hash's
 * fields as pairs (id r w ip la ttl [d] [no_resave] …), then "", the remaining seconds.
 * Returns 1 if written, 0 if the target was as new.
 */
export const importScript = new Script(`#!lua
${BUCKET}
local key, token = KEYS[4], ARGV[1]
local fields, f, i = imported(2)
local remaining = tonumber(ARGV[i + 1])
local skip = importedAlready(key, f)
if skip then return skip end
redis.call('DEL', key)
redis.call('HSET', key, unpack(fields))
redis.call('HSET', key, 'mig', 1)
redis.call('EXPIRE', key, remaining + 1)
local la = tonumber(f.la) or 0
redis.call('ZADD', S, la, token .. ':' .. f.id)
redis.call('ZADD', U, 'GT', la, f.id)
redis.call('ZADD', X, 0, f.id .. '\\0' .. token)
return 1
`);
