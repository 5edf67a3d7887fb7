import { redisStore } from '@idem/store-redis';
import { Redis } from 'ioredis';
import type { DemoStore } from '../stores.ts';

/**
 * The Redis store on REDIS_URL (default redis://127.0.0.1:6379), under a
 * prefix of its own per run; the run's records are deleted on close.
 */
export async function open(): Promise<DemoStore> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  // The options the store's README recommends: a lost Redis answers 503 fast.
  const client = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    lazyConnect: true,
  });
  client.on('error', () => {}); // a failed connect is reported below, and by the store's 503s
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new Error(
      `IDEM_STORE=redis: Redis is not reachable at ${url} (${(error as Error).message}). Start redis-server or point REDIS_URL at one.`,
    );
  }
  const prefix = `idem-demo:${Date.now().toString(36)}:`;
  const keys = async () => {
    const found: string[] = [];
    for (let cursor = '0'; ; ) {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
      if (cursor === '0') return found;
    }
  };
  return {
    store: redisStore({ client, prefix }),
    label: `redis store (${url.replace(/\/\/[^@/]*@/, '//')})`,
    async report() {
      const found = await keys();
      const sizes = await Promise.all(
        found.slice(0, 100).map(async (k) => Number(await client.memory('USAGE', k, 'SAMPLES', 0))),
      );
      const average = Math.round(sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length));
      return `redis: ${found.length} records under ${prefix}*, ~${average} bytes each (MEMORY USAGE); deleted on exit`;
    },
    async close() {
      const found = await keys();
      for (let i = 0; i < found.length; i += 500) await client.unlink(...found.slice(i, i + 500));
      await client.quit();
    },
  };
}
