import { LUA_MERGE } from "../lua.js";
import { Script } from "../script.js";
import { BUCKET } from "./bucket-lua.js";

/*
 * The cluster layout's scripts on one session (create, get, touch, set, kill, rotate, import);
 * the Lua they share is in bucket-lua.ts and the scripts over many sessions in
 * app-wide-scripts.ts, re-exported here so that callers import one module.
 */

export * from "./app-wide-scripts.js";

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
  local evict = overCap(live, cap, ARGV[12])
  if type(evict) == 'table' then return evict end
  for i = 1, evict do
    redis.call('DEL', KEYS[live[i][3]])
    unindex(live[i][1], id)
    redis.call('PUBLISH', ARGV[13], ARGV[14] .. ':' .. live[i][1])
    out[#out + 1] = live[i][1]
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
 * grace seconds. Returns the session's id, 0 if the session is gone (an alias included), or
 * ">bucket:ttl" (moved by a migration).
 */
export const rotateScript = new Script(`#!lua
${BUCKET}
local now = clock(ARGV[1])
local key, nextKey = KEYS[4], KEYS[5]
local channel, app, token, next = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local grace = tonumber(ARGV[6])
local s = load(key, now)
-- An alias is not followed (see the compat layout's rotate).
if not s then return moved(key, KEYS[6], true) or 0 end
if redis.call('EXISTS', nextKey) == 1 then
  return redis.error_reply('ERS_TOKEN_COLLISION token already in use')
end
local fields = movedFields(key, s, now)
remove(key, token, s.id, channel, app)
redis.call('HSET', nextKey, unpack(fields))
-- The remaining ttl for no_resave, capped at the absolute end either way.
expire(nextKey, s.ttl, s.ab, now)
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
