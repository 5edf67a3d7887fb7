import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Claim } from '@idem/core/store';
import { idempotency } from '@idem/hono';
import { cpuPressure } from '@idem/test-pressure';
import { retryStorm, stormSummary, watchCrashes } from '@idem/test-stores/storm';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { endPools, keptLog, newPool, uniqueTable, up } from './db.js';

/**
 * Chaos: a retry storm over HTTP while this test's own backends are
 * terminated again and again (pg_terminate_backend, filtered on the pool's
 * application_name). The handler writes its payment row in the idempotency
 * transaction. Passes with no uncaught exception, one committed row per
 * payment, and every payment answered 2xx with that row.
 */
const table = uniqueTable('idem_chaos');
const payments = uniqueTable('chaos_payments');
const application = uniqueTable('idem_chaos');
const admin = newPool();
const pool = newPool({ application_name: application, connectionTimeoutMillis: 5_000 });
const store = postgresStore({ pool, table });
const PAYMENTS = 1_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type AppEnv = { Variables: { idempotency: Claim } };
/** Store errors the engine met, by operation. */
const storeErrors: Record<string, number> = {};
/**
 * What idem logs (store errors go to the hook): kept, since background
 * give-backs still running when the tables are dropped log that the store is
 * not set up.
 */
const log = keptLog();

function paymentsApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // A short lease: a key whose owner lost its connection frees itself soon.
  app.use(
    '/payments',
    idempotency<AppEnv>({
      store,
      leaseMs: 3_000,
      scope: () => 'chaos',
      logger: log.logger,
      hooks: {
        storeError: ({ operation }) => {
          storeErrors[operation] = (storeErrors[operation] ?? 0) + 1;
        },
      },
    }),
  );
  app.post('/payments', async (c) => {
    const { reference, amount } = await c.req.json<{ reference: string; amount: number }>();
    try {
      const tx = await store.transaction(c.get('idempotency'));
      const { rows } = await tx.query(
        `INSERT INTO ${payments} (reference, amount) VALUES ($1, $2) RETURNING id`,
        [reference, amount],
      );
      return c.json({ id: String(rows[0].id), reference }, 201);
    } catch {
      // The database failed under the handler: its transaction rolls back. Ask for a retry.
      return c.json({ error: 'database unavailable' }, 503);
    }
  });
  return app;
}

/** Terminate 1 to 3 of the pool's backends every 20 to 100 ms until stopped. */
function killer() {
  let kills = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(20 + Math.random() * 80);
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
         WHERE application_name = $1 ORDER BY random() LIMIT $2`,
        [application, 1 + Math.floor(Math.random() * 3)],
      );
      kills += rows.filter((r) => r.killed).length;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return kills;
    },
  };
}

describe.skipIf(!up)('chaos: backends terminated during a retry storm', () => {
  beforeAll(async () => {
    await store.migrate();
    // No unique constraint on reference: a double execution shows as a second row.
    await admin.query(
      `CREATE TABLE ${payments} (id bigserial PRIMARY KEY, reference text NOT NULL, amount integer NOT NULL)`,
    );
  });
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${payments}`);
    await endPools();
  });

  it('no crash, no double execution, every payment answered 2xx with its one row', async ({
    annotate,
  }) => {
    const watch = watchCrashes();
    // Busy cores and a late event loop, as on a loaded server: replies and timers arrive late.
    const pressure = cpuPressure();
    const server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: paymentsApp().fetch, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(s as Server),
      );
    });
    const { port } = server.address() as AddressInfo;
    const kill = killer();
    let kills = 0;
    let report: Awaited<ReturnType<typeof retryStorm>>;
    try {
      report = await retryStorm({ url: `http://127.0.0.1:${port}/payments`, payments: PAYMENTS });
    } finally {
      kills = await kill.stop();
      server.closeAllConnections();
      server.close();
      await pressure.stop();
      watch.stop();
    }
    const { rows } = await admin.query(
      `SELECT reference, count(*)::int AS n, min(id)::text AS id FROM ${payments} GROUP BY reference`,
    );
    const completed = await admin.query(
      `SELECT count(*)::int AS n FROM ${table} WHERE state = 'completed'`,
    );
    const doubled = rows.filter((r) => r.n > 1).length;
    const paymentRows = rows.reduce((sum, r) => sum + r.n, 0);
    const neverAnswered = report.unexpected.filter((u) => u.status === 'deadline').length;
    await annotate(
      stormSummary(
        'postgres chaos',
        report,
        `${kills} backends terminated, ${paymentRows} payment rows, ${rows.length} payments executed, ${doubled} twice, ${report.statuses[422] ?? 0} 422s, ${neverAnswered} never answered, ${watch.crashes.length} uncaught, store errors ${JSON.stringify(storeErrors)}; ${pressure.summary()}`,
      ),
      'figures',
    );

    expect(watch.crashes).toEqual([]);
    // A connection lost is never taken for a store that is not set up.
    expect(log.lines.filter((line) => line.includes('not set up'))).toEqual([]);
    expect(kills).toBeGreaterThan(50);
    expect(report.replays).toBeGreaterThan(0);
    expect(report.unexpected).toEqual([]);
    expect(doubled).toBe(0);
    expect(paymentRows).toBe(PAYMENTS);
    expect(completed.rows[0].n).toBe(PAYMENTS);
    // Every 2xx a client got, first answer or replay, names the one committed row.
    const rowOf = new Map(rows.map((r) => [r.reference as string, r.id as string]));
    expect(report.answers.size).toBe(PAYMENTS);
    for (const [reference, answers] of report.answers) {
      for (const answer of answers) expect(JSON.parse(answer).id).toBe(rowOf.get(reference));
    }
    // Under CPU pressure the storm takes about 45 s alone and longer beside other work.
  }, 180_000);
});
