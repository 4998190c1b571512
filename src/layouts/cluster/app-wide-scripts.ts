import { Script } from "../script.js";
import { LUA_WALK } from "../walk-scripts.js";
import { BUCKET } from "./bucket-lua.js";

/* The cluster layout's scripts over many sessions of a bucket (listings, killsoid, killall, the wipe), each one bounded batch. */

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
