/*
 * Lua shared by both key layouts for writing whole session hashes: create, rotation and
 * migration imports (see lua.ts for the rest).
 */

/**
 * Creating a session hash: `existing(key, id)` answers a resend of the same create (1) or a token
 * taken by another id (an error), else nil; `newFields` lists the fields in redis-sessions' order.
 */
export const LUA_CREATE = `
-- The per-user cap's decision over the id's live sessions, {token, la, ...} each: how many to
-- evict (least recently active first, ties by token; live is sorted so), or the refusal.
local function overCap(live, cap, mode)
  if #live < cap then return 0 end
  if mode == 'refuse' then
    return redis.error_reply('ERS_SESSION_LIMIT at most ' .. cap .. ' sessions per user')
  end
  table.sort(live, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  return #live - cap + 1
end

local function existing(key, id)
  local owner = redis.call('HGET', key, 'id')
  if not owner then return nil end
  if owner == id then return 1 end
  return redis.error_reply('ERS_TOKEN_COLLISION token already in use')
end

-- extra: {ua, absolute seconds, csrf token} ('' for none). Our own fields follow v4's.
local function newFields(id, ip, now, ttl, d, noresave, extra)
  local fields = {'id', id, 'r', 1, 'w', 1, 'ip', ip, 'la', now, 'ttl', ttl}
  if d ~= '' then fields[#fields + 1] = 'd'; fields[#fields + 1] = d end
  if noresave == '1' then fields[#fields + 1] = 'no_resave'; fields[#fields + 1] = 1 end
  local function add(k, v) fields[#fields + 1] = k; fields[#fields + 1] = v end
  add('ct', now)
  add('au', now)
  if extra[1] ~= '' then add('ua', extra[1]) end
  if extra[2] ~= '' then add('ab', now + tonumber(extra[2])) end
  if extra[3] ~= '' then add('cs', extra[3]) end
  return fields
end

-- The fields a rotation carries to the new token (s from load): v4's and ours.
local function movedFields(key, s, now)
  local fields = {'id', s.id, 'r', s.r or 1, 'w', s.w or 1, 'ip', s.ip or '', 'la', now, 'ttl', s.ttl}
  if s.d then fields[#fields + 1] = 'd'; fields[#fields + 1] = s.d end
  if s.noresave then fields[#fields + 1] = 'no_resave'; fields[#fields + 1] = 1 end
  local cs = redis.call('HGET', key, 'cs')
  for _, kv in ipairs({{'ct', s.ct}, {'au', s.au}, {'ab', s.ab}, {'ua', s.ua}, {'cs', cs}}) do
    if kv[2] then fields[#fields + 1] = kv[1]; fields[#fields + 1] = kv[2] end
  end
  return fields
end
`;

/**
 * Migration imports: `imported(first)` reads field/value pairs from ARGV[first] up to an empty
 * argument (the HSET list, a map of them, and the position of the empty one); `importedAlready`
 * answers 0 when the stored copy is at least as new (same id, no fewer writes, no older
 * activity), an error when the token belongs to another id, else nil.
 */
export const LUA_IMPORT = `
local function imported(first)
  local fields, f = {}, {}
  local i = first
  while ARGV[i] ~= '' do
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
    f[ARGV[i]] = ARGV[i + 1]
    i = i + 2
  end
  return fields, f, i
end

local function importedAlready(key, f)
  local old = redis.call('HMGET', key, 'id', 'w', 'la')
  if old[1] == f.id and (tonumber(old[2]) or 0) >= (tonumber(f.w) or 0)
      and (tonumber(old[3]) or 0) >= (tonumber(f.la) or 0) then
    return 0
  end
  if old[1] and old[1] ~= f.id then
    return redis.error_reply('ERS_TOKEN_COLLISION token already in use by another id')
  end
  return nil
end
`;
