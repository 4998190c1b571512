import { Script } from "../script.js";
import { COMMON } from "./common-lua.js";

/*
 * The compat layout's scripts for account security (step-up, CSRF). Like the others, each takes
 * ARGV clock, ns, app, token first and follows a rotation alias.
 */

/*
 * reauthenticated: sets au (the last authentication) to now on a live session and tells every
 * cache. ARGV: clock, ns, app, token. Returns the session with its new au, or nil.
 */
export const reauthenticatedScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app = ARGV[2], ARGV[3]
local p = ns .. app .. ':'
local s, key, token = follow(p, ARGV[4], now)
if not s then return nil end
redis.call('HSET', key, 'au', now)
s.au = tostring(now)
redis.call('PUBLISH', ns .. 'cache', app .. ':' .. token)
return reply(s, s.w, s.d)
`);

/*
 * csrfToken: the live session's CSRF token (cs), written with HSETNX when it has none (a
 * session another client created). ARGV: clock, ns, app, token, candidate. Returns cs or nil.
 */
export const csrfTokenScript = new Script(`${COMMON}
local now = clock(ARGV[1])
local ns, app = ARGV[2], ARGV[3]
local p = ns .. app .. ':'
local s, key = follow(p, ARGV[4], now)
if not s then return nil end
redis.call('HSETNX', key, 'cs', ARGV[5])
return redis.call('HGET', key, 'cs')
`);
