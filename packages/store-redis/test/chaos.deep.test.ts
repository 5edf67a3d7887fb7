import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { idempotency } from '@idem/hono';
import { cpuPressure } from '@idem/test-pressure';
import { retryStorm, stormSummary, watchCrashes } from '@idem/test-stores/storm';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';
import {
  connectAs,
  LIBRARIES,
  type Library,
  recommended,
  recommendedNodeRedis,
} from './helpers.js';
import { type PrivateRedis, privateRedis } from './private-redis.js';

/**
 * Chaos: a retry storm over HTTP (@idem/hono) against a private redis-server
 * while it is SIGKILLed and restarted, or while its connections are killed
 * (CLIENT KILL), on each client with the options the README recommends.
 * Passes when every payment is answered 2xx, each with the one execution of
 * its handler, within a few seconds of Redis coming back.
 */
const PAYMENTS = 1_200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Chaos = 'restarts' | 'connection kills';

interface Run {
  readonly server: Server;
  readonly url: string;
  /** Handler executions per payment reference. */
  readonly runs: Map<string, number>;
  /** When each key's first request arrived, and when its first 2xx left. */
  readonly firstSeen: Map<string, number>;
  readonly firstOk: Map<string, number>;
  /** Store errors the engine met, by operation. */
  readonly storeErrors: Record<string, number>;
  close(): Promise<void>;
}

async function paymentsServer(library: Library, redisUrl: string): Promise<Run> {
  const connection = await connectAs(library, {
    url: redisUrl,
    ioredis: recommended,
    nodeRedis: recommendedNodeRedis,
  });
  const runs = new Map<string, number>();
  const firstSeen = new Map<string, number>();
  const firstOk = new Map<string, number>();
  const storeErrors: Record<string, number> = {};
  const app = new Hono();
  app.use('/payments', async (c, next) => {
    const key = c.req.header('idempotency-key') ?? '';
    if (!firstSeen.has(key)) firstSeen.set(key, Date.now());
    await next();
    if (c.res.status < 300 && !firstOk.has(key)) firstOk.set(key, Date.now());
  });
  app.use(
    '/payments',
    idempotency({
      store: redisStore({ client: connection.client, prefix: `idem-chaos:${library}:` }),
      scope: () => 'chaos',
      storeTimeoutMs: 2_500, // above the clients' own 2 s limits, as the engine's docs advise
      logger: false,
      hooks: {
        storeError: ({ operation }) => {
          storeErrors[operation] = (storeErrors[operation] ?? 0) + 1;
        },
      },
    }),
  );
  app.post('/payments', async (c) => {
    const { reference } = await c.req.json<{ reference: string }>();
    const run = (runs.get(reference) ?? 0) + 1;
    runs.set(reference, run);
    await sleep(10 + Math.random() * 40); // the payment provider's call
    return c.json({ reference, charge: `ch_${reference}_${run}` }, 201);
  });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}/payments`,
    runs,
    firstSeen,
    firstOk,
    storeErrors,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      connection.close();
    },
  };
}

/** Break Redis until `done` resolves; returns how often, and when Redis was back each time. */
async function breakRedis(chaos: Chaos, redis: PrivateRedis, done: Promise<unknown>) {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const backAt: number[] = [];
  let count = 0;
  if (chaos === 'restarts') {
    while (!finished) {
      await sleep(300 + Math.random() * 500);
      if (finished) break;
      await redis.kill();
      count++;
      await sleep(150 + Math.random() * 350);
      await redis.start();
      backAt.push(Date.now());
    }
    return { count, backAt };
  }
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  try {
    while (!finished) {
      await sleep(20 + Math.random() * 80);
      // A private Redis: every normal connection but this one is the store's.
      count += Number(await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
      backAt.push(Date.now());
    }
  } finally {
    admin.disconnect();
  }
  return { count, backAt };
}

/**
 * The longest a payment waited after Redis came back: for each payment that
 * was in progress when Redis returned, the time from the last return before
 * its first 2xx to that 2xx.
 */
function longestWaitAfterReturn(run: Run, backAt: readonly number[]): number {
  let longest = 0;
  for (const [key, ok] of run.firstOk) {
    const seen = run.firstSeen.get(key)!;
    const back = backAt.filter((t) => t > seen && t <= ok).at(-1);
    if (back !== undefined) longest = Math.max(longest, ok - back);
  }
  return longest;
}

describe.each(LIBRARIES)('chaos on a private Redis, through %s', (library) => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await privateRedis();
  });
  afterAll(() => redis?.stop());

  for (const chaos of ['restarts', 'connection kills'] as const) {
    it(`${chaos} during a retry storm: every payment answered 2xx, none run twice`, async ({
      annotate,
    }) => {
      const watch = watchCrashes();
      const pressure = cpuPressure();
      const run = await paymentsServer(library, redis.url);
      let report: Awaited<ReturnType<typeof retryStorm>>;
      let broken: Awaited<ReturnType<typeof breakRedis>>;
      try {
        const storm = retryStorm({ url: run.url, payments: PAYMENTS });
        [report, broken] = await Promise.all([storm, breakRedis(chaos, redis, storm)]);
      } finally {
        await run.close();
        await pressure.stop();
        watch.stop();
      }
      const executions = [...run.runs.values()];
      const twice = executions.filter((n) => n > 1).length;
      const waited = longestWaitAfterReturn(run, broken.backAt);
      const what = chaos === 'restarts' ? 'restarts (SIGKILL)' : 'connections killed';
      await annotate(
        stormSummary(
          `redis chaos, ${library}, ${chaos}`,
          report,
          `${broken.count} ${what}, ${executions.length} payments executed, ${twice} twice, 409s ${report.statuses[409] ?? 0}, longest wait after Redis came back ${waited} ms, ${watch.crashes.length} uncaught, store errors ${JSON.stringify(run.storeErrors)}; ${pressure.summary()}`,
        ),
        'figures',
      );

      expect(watch.crashes).toEqual([]);
      expect(broken.count).toBeGreaterThanOrEqual(chaos === 'restarts' ? 4 : 30);
      expect(report.unexpected).toEqual([]);
      expect(report.answers.size).toBe(PAYMENTS);
      expect(twice).toBe(0);
      expect(executions).toHaveLength(PAYMENTS);
      // Every 2xx a client got, first answer or replay, is the one execution's.
      for (const [reference, answers] of report.answers) {
        for (const answer of answers) expect(JSON.parse(answer).charge).toBe(`ch_${reference}_1`);
      }
      expect(waited).toBeLessThan(6_000);
    }, 180_000);
  }
});
