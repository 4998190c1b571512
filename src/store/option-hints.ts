/*
 * Advice the store gives when it refuses an option name that another Redis library uses.
 */

const FOR_A_URL = 'use "redis" for a URL: { redis: "redis://host:6379" }';

/** Advice for keys that other Redis libraries use (connect-redis, node-redis, ioredis). */
export const STORE_OPTION_HINTS: Readonly<Record<string, string>> = {
  url: FOR_A_URL,
  uri: FOR_A_URL,
  redisUrl: FOR_A_URL,
  prefix: 'use "namespace" for the key prefix',
  password: 'give it in the "redis" URL or options: { redis: { host, port, password } }',
  username: 'give it in the "redis" URL or options: { redis: { host, port, username } }',
  db: 'give it in the "redis" URL (redis://host:6379/1) or options: { redis: { db } }',
  database: 'give it in the "redis" URL (redis://host:6379/1) or options: { redis: { db } }',
  tls: 'use a rediss:// URL in "redis", or { redis: { tls: {} } }',
  ttl: "a session's ttl is given to create() (or to the middleware's own ttl option)",
};
