// @idem/store-redis's README, with both clients it names: ioredis and
// node-redis, each with the recommended options; run() twice executes once.
import { createIdempotency } from '@idem/core';
import { redisStore } from '@idem/store-redis';
import { Redis } from 'ioredis';
import { createClient } from 'redis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `idem-tarballs-${process.env.RUN_ID}:`;

async function twice(store) {
  const idem = createIdempotency({ store });
  let executions = 0;
  const job = () => ({ sent: ++executions });
  const outcomes = [await idem.run('job-1', job), await idem.run('job-1', job)];
  return { outcomes, executions };
}

const ioredis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
const viaIoredis = await twice(redisStore({ client: ioredis, prefix: `${prefix}io:` }));
await ioredis.quit();

const client = createClient({
  url,
  disableOfflineQueue: true, // required: see "Connection failures" in the README
  pingInterval: 1_000,
  socket: {
    socketTimeout: 3_000,
    reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000),
  },
  commandOptions: { timeout: 2_000 },
});
client.on('error', (error) => console.error('redis:', error.message));
await client.connect();
const viaNodeRedis = await twice(redisStore({ client, prefix: `${prefix}node:` }));
await client.quit();

console.log(JSON.stringify({ ioredis: viaIoredis, 'node-redis': viaNodeRedis }));
