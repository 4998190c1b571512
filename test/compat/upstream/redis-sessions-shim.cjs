"use strict";
/*
 * Stands in for redis-sessions' own `dist/index.js` when its test suite runs against our store
 * (see test/compat/upstream.test.ts). The suite does `require("../index").default` and constructs
 * `new RedisSessions({ cachetime })` with no host: this shim injects the private server's host and
 * port (redis-sessions' own option names) from the environment, so the suite never touches a
 * shared Redis. Loaded through tsx (`node --import tsx`), since the store is ESM TypeScript.
 */
const { RedisSessions } = require("../../../src/index.ts");

const host = process.env.ERS_UPSTREAM_REDIS_HOST;
const port = Number(process.env.ERS_UPSTREAM_REDIS_PORT);
if (!host || !port) throw new Error("ERS_UPSTREAM_REDIS_HOST/PORT must name the private Redis");

const instances = [];

class UpstreamRedisSessions extends RedisSessions {
  constructor(options) {
    super({ ...options, host, port });
    instances.push(this);
  }
}

// The suite quits only one of its three stores (and ends with process.exit(0), which the runner
// removes). Quitting the others here, in a root-level hook, lets mocha exit by itself, which
// proves that quit() leaves no handle open (redis-sessions 4 leaves its cache subscriber open).
after(() => Promise.all(instances.map((rs) => rs.quit())));

module.exports = { __esModule: true, default: UpstreamRedisSessions };
