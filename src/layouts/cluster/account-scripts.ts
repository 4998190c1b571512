import { Script } from "../script.js";
import { BUCKET } from "./bucket-lua.js";

/*
 * The cluster layout's scripts for account security (step-up, CSRF). KEYS: indexes, session,
 * pointer, as for get; a token that is a rotation alias answers "=token" and one that lives in
 * another bucket ">bucket:ttl", and the engine runs the script again there.
 */

/*
 * reauthenticated: sets au (the last authentication) to now on a live session and tells every
 * cache. ARGV: clock, channel, app, token. Returns the session with its new au.
 */
export const reauthenticatedScript = new Script(`#!lua
${BUCKET}
local now = clock(ARGV[1])
local key, channel, app, token = KEYS[4], ARGV[2], ARGV[3], ARGV[4]
local s = load(key, now)
if not s then return aliased(key, now) or moved(key, KEYS[5], false) end
redis.call('HSET', key, 'au', now)
s.au = tostring(now)
redis.call('PUBLISH', channel, app .. ':' .. token)
return reply(s, s.w, s.d)
`);

/*
 * csrfToken: the live session's CSRF token (cs), written with HSETNX when it has none.
 * ARGV: clock, token, candidate. Returns cs.
 */
export const csrfTokenScript = new Script(`#!lua
${BUCKET}
local now = clock(ARGV[1])
local key = KEYS[4]
local s = load(key, now)
if not s then return aliased(key, now) or moved(key, KEYS[5], false) end
redis.call('HSETNX', key, 'cs', ARGV[3])
return redis.call('HGET', key, 'cs')
`);
