/**
 * One app instance for the two-process race in race.deep.test.ts: its own client
 * (ioredis or node-redis) and store. Prints "ready", waits for "go" on stdin, runs every key
 * through the engine at once and prints the outcomes as JSON.
 */
import { createInterface } from 'node:readline';
import { createIdempotency } from '@idem/core';
import { redisStore } from '../src/index.js';
import { connect, connectAs, type Library } from './helpers.js';

const [url, prefix, count, order, library] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  Library,
];
const { client, close } = await connectAs(library, { url });
const counter = await connect(undefined, url);
const idem = createIdempotency({
  store: redisStore({ client, prefix }),
  concurrent: 'wait',
  ttlMs: 60_000,
});
console.log('ready');
const stdin = createInterface({ input: process.stdin });
await new Promise((resolve) => stdin.once('line', resolve));
stdin.close();
const keys = Array.from({ length: Number(count) }, (_, i) => `order-${i}`);
// The two instances walk the keys from opposite ends, so they meet on every key at some point.
if (order === 'descending') keys.reverse();
const outcomes = await Promise.all(
  keys.flatMap((key) =>
    [0, 1, 2].map(() =>
      idem.run(key, async () => {
        // The side effect: count executions where every instance can see them.
        await counter.incr(`${prefix}runs:${key}`);
        await new Promise((r) => setTimeout(r, 20));
        return { by: process.pid };
      }),
    ),
  ),
);
console.log(JSON.stringify(outcomes.map((o) => o.kind)));
close();
counter.disconnect();
