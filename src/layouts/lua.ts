/*
 * Lua shared by both key layouts' scripts (compat/scripts.ts and cluster/scripts.ts), so that
 * expiry, the session reply and the text-level merge of `d` behave the same in both. Each
 * constant is a chunk of Lua defining local functions; a script concatenates the ones it needs.
 * A script refuses work with an error reply `ERS_<CODE> <detail>` (see `toStoreError` in
 * script.ts); every such code is in the catalogue of src/errors.ts.
 */

/** `clock(arg)`: the caller's unix seconds, or Redis' TIME for ""; `alive(now, la, ttl)`. */
export const LUA_CLOCK = `
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1])
end

-- A hash field another client wrote, as a number: tonumber also accepts "nan", which compares
-- false with everything (an immortal session, a ZADD that fails); it reads as 0, as text does.
local function num(v)
  local n = tonumber(v)
  if not n or n ~= n then return 0 end
  return n
end

-- redis-sessions' rule: expired when ttl < now - la. A missing la counts as 0, so expired.
-- A session with an absolute end (ab) is also expired from that second on.
local function alive(now, la, ttl, ab)
  if ab and now >= num(ab) then return false end
  return num(ttl) >= now - num(la)
end

-- Binds a key's Redis expiry to the unix second at: PEXPIREAT on Redis' own clock (real is
-- true when the scripts read TIME), else the same span from the caller's clock (a fake one).
local function expireAt(key, at, now, real)
  if real then return redis.call('PEXPIREAT', key, math.floor(at * 1000)) end
  return redis.call('PEXPIRE', key, math.max(1, math.floor((at - now) * 1000)))
end

-- A rotation alias (a hash {rt = new token, re = end}, no id): the token it names while it
-- lasts, else nil. Every script that takes a token resolves it first.
local function aliasOf(key, now)
  local a = redis.call('HMGET', key, 'rt', 're')
  if a[1] and now < num(a[2]) then return a[1] end
  return nil
end
`;

/** `FIELDS` and `load(key, now)`: a live session's fields and derived values, or nil. */
export const LUA_LOAD = `
local FIELDS = {'id', 'r', 'w', 'ttl', 'd', 'la', 'ip', 'no_resave', 'ct', 'au', 'ab', 'ua'}

-- Reads a session hash; returns nil when missing or expired, else the fields and derived values.
local function load(key, now)
  local f = redis.call('HMGET', key, unpack(FIELDS))
  if not f[1] then return nil end
  local la = num(f[6])
  local ttl = num(f[4])
  local idle = now - la
  if ttl < idle then return nil end
  if f[11] and now >= num(f[11]) then return nil end
  local noresave = f[8] == '1'
  local remaining = ttl
  if noresave then remaining = ttl - idle end
  return { id = f[1], r = f[2], w = f[3], d = f[5], ip = f[7], idle = idle,
           noresave = noresave, ttl = remaining, ct = f[9], au = f[10], ab = f[11], ua = f[12] }
end

-- Adds 1 to a counter (r, w) that another client may have left a non-integer ("1.5", "", "abc"):
-- it then counts on from its whole part (0 for text). Returns the new count, or the error table of
-- a refused write (out of memory, a read-only replica) as pcall gives it.
local function increment(key, field, old)
  local n = redis.pcall('HINCRBY', key, field, 1)
  if type(n) ~= 'table' then return n end
  if not (string.find(n.err, 'not an integer', 1, true) or string.find(n.err, 'overflow', 1, true)) then
    return n
  end
  local base = math.floor(num(old))
  if base < 0 or base >= 2^53 then base = 0 end
  local set = redis.pcall('HSET', key, field, base + 1)
  if type(set) == 'table' then return set end
  return base + 1
end
`;

/**
 * `reply(s, w, d)`: the array a script returns for one session (decoded by reply.ts): v4's
 * fields, then created, auth, absolute end and user agent (false when absent).
 */
export const LUA_REPLY = `
local function reply(s, w, d)
  return { s.id, s.r or '0', w or '0', tostring(s.ttl), tostring(s.idle), s.ip or false,
           s.noresave and 1 or 0, d or false, s.ct or false, s.au or false, s.ab or false,
           s.ua or false }
end
`;

/**
 * `parse(s)` and `merge(stored, first, maxBytes, maxKeys)`: the text-level JSON merge of `d`.
 * Stored values are copied byte for byte and new ones are JSON.stringify'd by the caller, so
 * numbers keep full precision and keys keep redis-sessions' order (cjson would round numbers to
 * 14 digits and reorder keys).
 */
export const LUA_MERGE = `
local function strend(s, i)
  local j = i + 1
  while true do
    local q = string.find(s, '["\\\\]', j)
    if not q then return nil end
    if string.byte(s, q) == 34 then return q end
    j = q + 2
  end
end

local function valend(s, i)
  local c = string.sub(s, i, i)
  if c == '"' then return strend(s, i) end
  if c == '{' or c == '[' then
    local depth, j = 0, i
    while true do
      local q = string.find(s, '[%[%]{}"]', j)
      if not q then return nil end
      local ch = string.sub(s, q, q)
      if ch == '"' then
        q = strend(s, q)
        if not q then return nil end
      elseif ch == '{' or ch == '[' then depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 then return q end
      end
      j = q + 1
    end
  end
  local e = string.find(s, '[,}%s]', i)
  if not e or e == i then return nil end
  return e - 1
end

-- The key a JSON key text stands for, or nil when cjson cannot decode it (a lone surrogate such
-- as "\\ud800", which JSON.stringify writes): such a key is then matched by its text alone.
local function keyof(raw)
  if not string.find(raw, '\\\\', 1, true) then return string.sub(raw, 2, -2) end
  local ok, k = pcall(cjson.decode, raw)
  if ok and type(k) == 'string' then return k end
  return nil
end

-- Splits a flat JSON object into its entries, keeping each key's and value's text as stored.
local function parse(s)
  local list = {}
  local i = string.find(s, '%S')
  if not i or string.sub(s, i, i) ~= '{' then return nil end
  i = string.find(s, '%S', i + 1)
  if not i then return nil end
  if string.sub(s, i, i) == '}' then return list end
  while true do
    if string.sub(s, i, i) ~= '"' then return nil end
    local ke = strend(s, i)
    if not ke then return nil end
    local kraw = string.sub(s, i, ke)
    i = string.find(s, '%S', ke + 1)
    if not i or string.sub(s, i, i) ~= ':' then return nil end
    local vs = string.find(s, '%S', i + 1)
    if not vs then return nil end
    local ve = valend(s, vs)
    if not ve then return nil end
    list[#list + 1] = { keyof(kraw), kraw, string.sub(s, vs, ve) }
    i = string.find(s, '%S', ve + 1)
    if not i then return nil end
    local c = string.sub(s, i, i)
    if c == '}' then return list end
    if c ~= ',' then return nil end
    i = string.find(s, '%S', i + 1)
    if not i then return nil end
  end
end

-- Merges the (key, key JSON, value JSON or '') triples of ARGV from index first into the stored
-- d. Returns the new d (false when empty), or nil and an error text.
local function merge(stored, first, maxBytes, maxKeys)
  local list = {}
  if stored and stored ~= '' then
    list = parse(stored)
    if not list then return nil, 'ERS_INVALID_D d stored in Redis is not a JSON object' end
  end
  local oldCount = #list
  -- A stored key is found by its JSON text (what JSON.stringify writes, as the caller's kjson) or
  -- by its decoded value (for text another writer escaped differently).
  local byJson, byKey = {}, {}
  for i, e in ipairs(list) do
    byJson[e[2]] = i
    if e[1] then byKey[e[1]] = i end
  end
  for a = first, #ARGV, 3 do
    local k, kjson, vjson = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    local at = byJson[kjson] or byKey[k]
    if at and list[at] then
      if vjson == '' then list[at] = false else list[at][3] = vjson end
    elseif vjson ~= '' then
      list[#list + 1] = { k, kjson, vjson }
      byJson[kjson] = #list
      byKey[k] = #list
    end
  end
  -- JavaScript objects list integer-like keys ("0", "7", "10"; below 2^32 - 1) first, ascending,
  -- then the others in insertion order; JSON.stringify of redis-sessions' merged object does too.
  local indexed, named = {}, {}
  for _, e in ipairs(list) do
    if e then
      local k = e[1]
      if k and (k == '0' or (#k <= 10 and string.find(k, '^[1-9]%d*$')
          and tonumber(k) < 4294967295)) then
        indexed[#indexed + 1] = e
      else
        named[#named + 1] = e
      end
    end
  end
  table.sort(indexed, function(a, b) return tonumber(a[1]) < tonumber(b[1]) end)
  local parts, count = {}, 0
  for _, group in ipairs({ indexed, named }) do
    for _, e in ipairs(group) do
      count = count + 1
      parts[count] = e[2] .. ':' .. e[3]
    end
  end
  local d = false
  if count > 0 then d = '{' .. table.concat(parts, ',') .. '}' end
  local oldLen = stored and #stored or 0
  local newLen = d and #d or 0
  -- Refuse to grow d past the limits; a d already over them (written by another client) may shrink.
  if count > maxKeys and count > oldCount then
    return nil, 'ERS_D_TOO_MANY_KEYS ' .. maxKeys
  end
  if newLen > maxBytes and newLen > oldLen then
    return nil, 'ERS_D_TOO_LARGE ' .. maxBytes
  end
  return d
end
`;
