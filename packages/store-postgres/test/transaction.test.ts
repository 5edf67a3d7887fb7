import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { transactionalSuite } from '@idem/conformance/transactional';
import { createIdempotency } from '@idem/core';
import { type Claim, ConfigurationError, RolledBackError, scopedKey } from '@idem/core/store';
import { idempotency } from '@idem/hono';
import { Hono } from 'hono';
import type { PoolClient } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { endPools, idle, keptLog, newPool, uniqueTable, up } from './db.js';

/**
 * Transactional completion: the handler's payment row and the idempotency
 * record commit together or not at all, whatever kills the work mid-request.
 */
const table = uniqueTable('idem_tx');
const payments = uniqueTable('payments');
// The shared suite's writes: no unique key, so an operation run twice shows as two rows.
const writes = uniqueTable('tx_writes');
const admin = newPool();
const pool = newPool();
const store = postgresStore({ pool, table });

type Fault =
  | 'none'
  | 'terminate after insert'
  | 'terminate before commit'
  | 'throw after insert'
  | 'swallowed query error';

async function backendPid(tx: PoolClient): Promise<number> {
  return (await tx.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
}

// Waits (up to 5 s) until the backend has exited, so the next statement surely fails.
async function terminate(pid: number): Promise<void> {
  await admin.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
}

/** The handler's work: a payment row in the idempotency transaction, then the fault. */
async function pay(context: Claim, id: string, fault: Fault): Promise<{ id: string }> {
  const tx = await store.transaction(context);
  await tx.query(`INSERT INTO ${payments} (id, amount) VALUES ($1, 1999)`, [id]);
  switch (fault) {
    case 'terminate after insert':
      await terminate(await backendPid(tx));
      break;
    case 'terminate before commit': {
      // Kill the backend after the record's UPDATE ran in the transaction, just before COMMIT.
      const pid = await backendPid(tx);
      const query = tx.query.bind(tx) as (...args: unknown[]) => Promise<unknown>;
      (tx as { query: unknown }).query = async (...args: unknown[]) => {
        if (args[0] === 'COMMIT') await terminate(pid);
        return query(...args);
      };
      break;
    }
    case 'throw after insert':
      throw new Error('handler crashed after its insert');
    case 'swallowed query error':
      // A failed statement aborts the transaction; the handler hides it and "succeeds".
      await tx.query(`INSERT INTO ${payments} (id, amount) VALUES ($1, 1)`, [id]).catch(() => {});
      break;
    case 'none':
      break;
  }
  return { id };
}

/** The payment rows and the live record for one key, read out of band. */
async function evidence(storeKey: string, id: string) {
  const rows = await admin.query(`SELECT count(*)::int AS n FROM ${payments} WHERE id = $1`, [id]);
  const record = await admin.query(
    `SELECT state FROM ${table} WHERE key = $1 AND expires_at > statement_timestamp()`,
    [storeKey],
  );
  return { paymentRows: rows.rows[0].n as number, record: record.rows[0]?.state as string };
}

function expectNoCheckedOutClients() {
  const { total, idle: idleCount, waiting } = idle(pool);
  expect({ checkedOut: total - idleCount, waiting }).toEqual({ checkedOut: 0, waiting: 0 });
}

describe.skipIf(!up)('transactional completion', () => {
  beforeAll(async () => {
    await store.migrate();
    await admin.query(`CREATE TABLE ${payments} (id text PRIMARY KEY, amount integer NOT NULL)`);
    await admin.query(`CREATE TABLE ${writes} (id text NOT NULL)`);
  });
  afterEach(expectNoCheckedOutClients);
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${payments}, ${writes}`);
    await endPools();
  });

  // Commit with the record, roll back on a throw, a failed commit, a result
  // not kept or a lost lease, duplicates once: the scenarios every
  // transactional store shares. The rest of this file is PostgreSQL's own.
  transactionalSuite({
    name: 'postgres',
    store,
    write: async (claim, id) => {
      const tx = await store.transaction(claim);
      await tx.query(`INSERT INTO ${writes} (id) VALUES ($1)`, [id]);
    },
    countWrites: async (id) =>
      (await admin.query(`SELECT count(*)::int AS n FROM ${writes} WHERE id = $1`, [id])).rows[0].n,
    breakTransaction: async (claim) => {
      const tx = await store.transaction(claim);
      // A failed statement aborts the transaction: its COMMIT then answers ROLLBACK.
      await tx.query('SELECT 1/0').catch(() => {});
    },
  });

  describe('through the engine', () => {
    const idem = createIdempotency({ store });
    // PostgreSQL's own ways for a transaction to fail; a throw is the shared suite's.
    const causes: Array<[Fault, RegExp]> = [
      ['terminate after insert', /terminat|connection error/i],
      ['terminate before commit', /terminat|connection error/i],
      ['swallowed query error', /current transaction is aborted/],
    ];

    it.each(causes)(
      '%s: nothing is kept, and the retry runs exactly once',
      async (fault, cause) => {
        const id = `pay-engine-${fault}`;
        let executions = 0;
        let storeKey = '';
        const operation = (f: Fault) => (ctx: Claim) => {
          executions++;
          storeKey = ctx.storeKey;
          return pay(ctx, id, f);
        };
        const failure = await idem.run(id, operation(fault)).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(RolledBackError);
        // The cause is the fault itself: the killed connection, the aborted transaction.
        expect(String((failure as Error).cause)).toMatch(cause);
        // Neither the payment row nor the record: the key is free for the retry.
        expect(await evidence(storeKey, id)).toEqual({ paymentRows: 0, record: undefined });

        expect(await idem.run(id, operation('none'))).toEqual({
          kind: 'executed',
          value: { id },
        });
        expect(await evidence(storeKey, id)).toEqual({ paymentRows: 1, record: 'completed' });
        expect(await idem.run(id, operation('none'))).toEqual({
          kind: 'replayed',
          value: { id },
        });
        expect(executions).toBe(2);
        expect(await evidence(storeKey, id)).toEqual({ paymentRows: 1, record: 'completed' });
      },
    );

    it('many executions at once, half failing, return every client to the pool', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          idem.run(`pay-many-${i}`, (ctx) =>
            pay(ctx, `pay-many-${i}`, i % 2 ? 'throw after insert' : 'none'),
          ),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
      const rows = await admin.query(
        `SELECT count(*)::int AS n FROM ${payments} WHERE id LIKE 'pay-many-%'`,
      );
      expect(rows.rows[0].n).toBe(20);
    });

    it('hands out one transaction per execution, and refuses unprotected ones', async () => {
      await idem.run('same-tx', async (ctx) => {
        const [a, b] = await Promise.all([store.transaction(ctx), store.transaction(ctx)]);
        expect(a).toBe(b);
        expect(await store.transaction(ctx)).toBe(a);
      });
      const log = keptLog();
      const down = createIdempotency({
        store: { ...store, claim: () => Promise.reject(new Error('down')) },
        failOpen: true,
        logger: log.logger,
      });
      // The failed claim's token is given back in the background: wait for it.
      const background: Promise<unknown>[] = [];
      const waitUntil = (p: Promise<unknown>) => background.push(p);
      await expect(
        down.run('unprotected', (ctx) => store.transaction(ctx), { waitUntil }),
      ).rejects.toThrow(/unprotected/);
      await Promise.all(background);
      expect(log.lines).toEqual([expect.stringContaining('the store failed during claim: down')]);
      // A request idem passed through has no context: a clear error, not a crash.
      await expect(store.transaction(undefined)).rejects.toThrow(
        /idem passed this request through/,
      );
      await expect(store.transaction(undefined)).rejects.toBeInstanceOf(ConfigurationError);
      await expect(store.transaction({} as never)).rejects.toThrow(
        /pass the claim idem gave the operation/,
      );
    });
  });

  describe('through HTTP (Hono)', () => {
    type AppEnv = { Variables: { idempotency: Claim } };
    let fault: Fault | 'respond 500' = 'none';
    let executions = 0;
    const app = new Hono<AppEnv>();
    app.use('/payments', idempotency<AppEnv>({ store, scope: () => 'merchant-1' }));
    app.onError((error, c) => c.text(error.message, 500));
    app.post('/payments', async (c) => {
      executions++;
      const { id } = await c.req.json<{ id: string }>();
      if (fault === 'respond 500') {
        await pay(c.get('idempotency'), id, 'none');
        return c.json({ error: 'gateway down' }, 500);
      }
      return c.json(await pay(c.get('idempotency'), id, fault), 201);
    });
    const post = (id: string) =>
      app.request('/payments', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': id },
        body: JSON.stringify({ id }),
      });

    it.each([
      ['terminate after insert', 503],
      ['terminate before commit', 503],
      ['swallowed query error', 503],
      ['throw after insert', 500],
      ['respond 500', 500],
    ] as const)(
      '%s: answers %i, keeps nothing, and the retry runs exactly once',
      async (f, status) => {
        const id = `pay-http-${f.replaceAll(' ', '-')}`;
        const storeKey = await scopedKey('merchant-1', id);
        executions = 0;
        fault = f;
        const first = await post(id);
        expect(first.status).toBe(status);
        if (status === 503) {
          expect(await first.json()).toMatchObject({ type: 'urn:idem:problem:rolled-back' });
        }
        expect(await evidence(storeKey, id)).toEqual({ paymentRows: 0, record: undefined });

        fault = 'none';
        const retry = await post(id);
        expect(retry.status).toBe(201);
        expect(await evidence(storeKey, id)).toEqual({ paymentRows: 1, record: 'completed' });
        const replay = await post(id);
        expect(replay.status).toBe(201);
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(await replay.json()).toEqual(await retry.json());
        expect(executions).toBe(2);
      },
    );
  });

  describe('over real HTTP: answers shouldStore does not keep', () => {
    type AppEnv = { Variables: { idempotency: Claim } };
    let executions = 0;
    const app = new Hono<AppEnv>();
    // Keeps only 201: any other answer releases the key, and with it rolls the transaction back.
    app.use(
      '/payments',
      idempotency<AppEnv>({ store, scope: () => 'merchant-1', shouldStore: (s) => s === 201 }),
    );
    app.post('/payments', async (c) => {
      executions++;
      const { id, status } = await c.req.json<{ id: string; status: 201 | 202 | 429 }>();
      await pay(c.get('idempotency'), id, 'none');
      return c.json({ id, accepted: true }, status);
    });
    let server: Server;
    let url = '';
    beforeAll(async () => {
      server = await new Promise<Server>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
          resolve(s as Server),
        );
      });
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/payments`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const post = (id: string, status: 201 | 202 | 429) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': id },
        body: JSON.stringify({ id, status }),
      });

    it('a 202 not kept: 503 rolled-back, no row, no record; every retry runs and is rolled back again', async () => {
      const id = 'pay-real-http-202';
      const storeKey = await scopedKey('merchant-1', id);
      executions = 0;
      for (let attempt = 1; attempt <= 2; attempt++) {
        const answer = await post(id, 202);
        // Not the handler's 202: its writes did not happen, so the client must not hear they did.
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toBe('1');
        expect(answer.headers.get('idempotent-replayed')).toBeNull();
        expect(await answer.json()).toMatchObject({
          type: 'urn:idem:problem:rolled-back',
          status: 503,
        });
        expect(await evidence(storeKey, id)).toEqual({ paymentRows: 0, record: undefined });
        expect(executions).toBe(attempt);
      }
      // An answer the route keeps commits the same writes with the record.
      const kept = await post(id, 201);
      expect(kept.status).toBe(201);
      expect(await evidence(storeKey, id)).toEqual({ paymentRows: 1, record: 'completed' });
      expect(executions).toBe(3);
    });

    it("a 429 not kept: the handler's 429 goes out, its writes are rolled back, the retry runs again", async () => {
      const id = 'pay-real-http-429';
      const storeKey = await scopedKey('merchant-1', id);
      executions = 0;
      for (let attempt = 1; attempt <= 2; attempt++) {
        const answer = await post(id, 429);
        expect(answer.status).toBe(429);
        expect(await answer.json()).toEqual({ id, accepted: true });
        expect(await evidence(storeKey, id)).toEqual({ paymentRows: 0, record: undefined });
        expect(executions).toBe(attempt);
      }
    });
  });
});
