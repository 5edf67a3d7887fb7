/**
 * Redis for the cost tool: idem's store on ioredis or node-redis against the
 * floor on the same client (SET NX to claim, SET to complete, GET to replay),
 * on a private redis-server; Redis CPU from its own accounting of the
 * commands the client sent (commandstats, script calls taken out).
 */
import { redisStore } from '@idem/store-redis';
import { Redis } from 'ioredis';
import { median } from '../stats.ts';
import { type RedisCost, redisWindow, type Stats, scriptCallsPerRequest } from './redis-server.ts';
import { type DbMeter, FINGERPRINT, idemWay, RESPONSE, token, type Way } from './run.ts';

/** The client library a row goes through. */
export type RedisClientName = 'ioredis' | 'node-redis';

/** Redis's own accounting as a meter, one commandstats window per phase. */
export interface CommandStatsMeter extends DbMeter {
  /**
   * The commands the client sent in the windows of `label`'s phases (`idem:first`):
   * median usec per call, e.g. `SET 4.80 + EVALSHA 18.10`.
   */
  commands(label: string): string;
}

/** Redis's own accounting as a meter: one commandstats window per phase. */
export function commandStatsMeter(admin: Redis): CommandStatsMeter {
  const inner = new Map<string, Stats>();
  const costs = new Map<string, RedisCost[]>();
  return {
    async calibrate(label, requests, run) {
      inner.set(label, await scriptCallsPerRequest(admin, run, requests));
    },
    async window(label, requests, run) {
      const cost = await redisWindow(admin, run, requests, inner.get(label));
      costs.set(label, [...(costs.get(label) ?? []), cost]);
      return { us: cost.us * requests };
    },
    commands(label) {
      const phases = [...costs.keys()].filter((l) => l.startsWith(`${label}:`)).sort();
      return phases
        .flatMap((phase) => {
          const windows = costs.get(phase)!;
          const names = [...new Set(windows.flatMap((c) => Object.keys(c.commands)))];
          return names.map((name) => {
            const n = median(windows.map((c) => c.commands[name]?.perRequest ?? 0));
            const us = median(windows.map((c) => c.commands[name]?.usecPerCall ?? Number.NaN));
            const times = Math.abs(n - 1) < 0.01 ? '' : `${n.toFixed(2)} x `;
            return n < 0.01 ? '' : `${times}${name.toUpperCase()} ${us.toFixed(2)}`;
          });
        })
        .filter(Boolean)
        .join(' + ');
    },
  };
}

/** The two ways on one client of `client`'s library, under their own prefixes. */
export async function openRedis(
  url: string,
  client: RedisClientName,
  run: string,
): Promise<{ floor: Way; idem: Way; close(): Promise<void> }> {
  let connection: unknown;
  let send: (args: string[]) => Promise<unknown>;
  let close: () => Promise<void>;
  if (client === 'ioredis') {
    const c = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 5_000 });
    connection = c;
    send = (args) => c.call(args[0]!, ...args.slice(1));
    close = async () => void c.disconnect();
  } else {
    // node-redis as apps/bench installs it (@redis/client, what `redis` re-exports).
    const { createClient } = await import('@redis/client');
    const c = createClient({ url, disableOfflineQueue: true });
    c.on('error', () => {});
    await c.connect();
    connection = c;
    send = (args) => c.sendCommand(args);
    close = async () => void c.destroy();
  }
  const store = redisStore({ client: connection as never, prefix: `cost:${run}:` });
  const floorKey = (key: string) => `floor:${run}:${key}`;
  // What a record holds, in plain JSON: the owner and fingerprint, then the response.
  const claimed = () => JSON.stringify({ token: token(), fingerprint: FINGERPRINT });
  const completed = JSON.stringify({
    fingerprint: FINGERPRINT,
    status: RESPONSE.status,
    headers: RESPONSE.headers,
    body: Buffer.from(RESPONSE.body).toString('base64'),
  });
  const floor: Way = {
    first: [
      async (key) => {
        await send(['SET', floorKey(key), claimed(), 'PX', '30000', 'NX']);
      },
      async (key) => {
        await send(['SET', floorKey(key), completed, 'PX', '3600000']);
      },
    ],
    replay: [
      async (key) => {
        const value = await send(['GET', floorKey(key)]);
        if (typeof value !== 'string' || !value.startsWith('{"fingerprint"')) {
          throw new Error(`${key}: floor record not completed`);
        }
      },
    ],
  };
  return { floor, idem: idemWay(store), close };
}
