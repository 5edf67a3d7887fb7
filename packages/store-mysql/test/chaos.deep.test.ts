import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Claim } from '@idem/core/store';
import { idempotency } from '@idem/hono';
import { cpuPressure } from '@idem/test-pressure';
import { retryStorm, stormSummary, watchCrashes } from '@idem/test-stores/storm';
import { Hono } from 'hono';
import type { ResultSetHeader } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { connectionIds, dropStore, endPools, keptLog, newPool, uniqueTable, up } from './db.js';

/**
 * Chaos: a retry storm over HTTP while this test's own server connections
 * are KILLed again and again (only ids its pool opened). The handler writes
 * its payment row in the idempotency transaction. Passes with no uncaught
 * exception, one committed row per payment, and every payment answered 2xx
 * with that row.
 */
const table = uniqueTable('idem_chaos');
const payments = uniqueTable('chaos_payments');
const admin = newPool();
const pool = newPool({ connectionLimit: 10 });
const ours = connectionIds(pool);
const store = mysqlStore({ pool, table });
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
      const [result] = await tx.query<ResultSetHeader>(
        `INSERT INTO ${payments} (reference, amount) VALUES (?, ?)`,
        [reference, amount],
      );
      return c.json({ id: String(result.insertId), reference }, 201);
    } catch {
      // The database failed under the handler: its transaction rolls back. Ask for a retry.
      return c.json({ error: 'database unavailable' }, 503);
    }
  });
  return app;
}

/** KILL 1 to 3 of the pool's live connections every 20 to 100 ms until stopped. */
function killer() {
  let kills = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(20 + Math.random() * 80);
      const [rows] = await admin.query(
        'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID IN (?) ORDER BY RAND() LIMIT ?',
        [[...ours, 0], 1 + Math.floor(Math.random() * 3)],
      );
      for (const { id } of rows as Array<{ id: number }>) {
        // 1094: it ended between the SELECT and the KILL.
        await admin.query(`KILL ${Number(id)}`).then(
          () => kills++,
          (error: { errno?: number }) => {
            if (error.errno !== 1094) throw error;
          },
        );
      }
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

describe.skipIf(!up)('chaos: connections killed during a retry storm', () => {
  beforeAll(async () => {
    await store.migrate();
    // No unique constraint on reference: a double execution shows as a second row.
    await admin.query(
      `CREATE TABLE ${payments} (id BIGINT AUTO_INCREMENT PRIMARY KEY, reference VARCHAR(100) NOT NULL, amount INT NOT NULL)`,
    );
  });
  afterAll(async () => {
    await dropStore(admin, table);
    await admin.query(`DROP TABLE IF EXISTS ${payments}`);
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
    const [grouped] = await admin.query(
      `SELECT reference, count(*) AS n, CAST(min(id) AS CHAR) AS id FROM ${payments} GROUP BY reference`,
    );
    const rows = (grouped as Array<{ reference: string; n: number; id: string }>).map((r) => ({
      ...r,
      n: Number(r.n),
    }));
    const [completed] = await admin.query(
      `SELECT count(*) AS n FROM ${table} WHERE state = 'completed'`,
    );
    const doubled = rows.filter((r) => r.n > 1).length;
    const paymentRows = rows.reduce((sum, r) => sum + r.n, 0);
    const neverAnswered = report.unexpected.filter((u) => u.status === 'deadline').length;
    await annotate(
      stormSummary(
        'mysql chaos',
        report,
        `${kills} connections killed, ${paymentRows} payment rows, ${rows.length} payments executed, ${doubled} twice, ${report.statuses[422] ?? 0} 422s, ${neverAnswered} never answered, ${watch.crashes.length} uncaught, store errors ${JSON.stringify(storeErrors)}; ${pressure.summary()}`,
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
    expect(Number((completed as Array<{ n: number }>)[0]!.n)).toBe(PAYMENTS);
    // Every 2xx a client got, first answer or replay, names the one committed row.
    const rowOf = new Map(rows.map((r) => [r.reference, r.id]));
    expect(report.answers.size).toBe(PAYMENTS);
    for (const [reference, answers] of report.answers) {
      for (const answer of answers) expect(JSON.parse(answer).id).toBe(rowOf.get(reference));
    }
    // Under CPU pressure the storm takes about 45 s alone and longer beside other work.
  }, 180_000);
});
