import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { transactionalSuite } from '@idem/conformance/transactional';
import { createIdempotency } from '@idem/core';
import { type Claim, ConfigurationError, RolledBackError, scopedKey } from '@idem/core/store';
import { idempotency } from '@idem/hono';
import { Hono } from 'hono';
import type { PoolConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { dropStore, endPools, keptLog, newPool, uniqueTable, up } from './db.js';

/**
 * Transactional completion: the handler's payment row and the idempotency
 * record commit together or not at all, whatever kills the work mid-request.
 */
const table = uniqueTable('idem_tx');
const payments = uniqueTable('payments');
// The shared suite's writes: no unique key, so an operation run twice shows as two rows.
const writes = uniqueTable('tx_writes');
const locks = uniqueTable('locks');
const admin = newPool();
const pool = newPool();
const store = mysqlStore({ pool, table });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Fault =
  | 'none'
  | 'kill after insert'
  | 'kill before commit'
  | 'deadlock swallowed'
  | 'rolled back by the handler'
  | 'throw after insert';

const threadId = (tx: PoolConnection) => tx.connection.threadId;

/** Kill a server connection, as an operator or a failover would. */
async function kill(id: number | null): Promise<void> {
  await admin.query(`KILL ${Number(id)}`);
}

/**
 * Make the handler's transaction the victim of a deadlock: another
 * transaction, heavier (so InnoDB rolls the handler's back), holds row b and
 * waits for row a, which the handler holds; the handler then asks for b.
 */
async function deadlock(tx: PoolConnection, id: string): Promise<unknown> {
  await admin.query(`INSERT INTO ${locks} (id) VALUES (?), (?)`, [`${id}-a`, `${id}-b`]);
  const other = await admin.getConnection();
  try {
    await tx.query(`UPDATE ${locks} SET n = n + 1 WHERE id = ?`, [`${id}-a`]);
    await other.query('START TRANSACTION');
    const weight = Array.from({ length: 50 }, (_, i) => [`${id}-w${i}`]);
    await other.query(`INSERT INTO ${locks} (id) VALUES ?`, [weight]);
    await other.query(`UPDATE ${locks} SET n = n + 1 WHERE id = ?`, [`${id}-b`]);
    const waiting = other.query(`UPDATE ${locks} SET n = n + 1 WHERE id = ?`, [`${id}-a`]);
    await sleep(200); // the other transaction is now waiting for a
    const seen = await tx.query(`UPDATE ${locks} SET n = n + 1 WHERE id = ?`, [`${id}-b`]).then(
      () => undefined,
      (error: unknown) => error,
    );
    await waiting;
    await other.query('COMMIT');
    return seen;
  } finally {
    other.release();
  }
}

/** The handler's work: a payment row in the idempotency transaction, then the fault. */
async function pay(context: Claim, id: string, fault: Fault): Promise<{ id: string }> {
  const tx = await store.transaction(context);
  await tx.query(`INSERT INTO ${payments} (id, amount) VALUES (?, 1999)`, [id]);
  switch (fault) {
    case 'kill after insert':
      await kill(threadId(tx));
      break;
    case 'kill before commit': {
      // Kill the connection as the completion is sent, just before it commits.
      const id = threadId(tx);
      const query = tx.query.bind(tx) as (...args: unknown[]) => Promise<unknown>;
      (tx as { query: unknown }).query = async (...args: unknown[]) => {
        const sql = typeof args[0] === 'string' ? args[0] : (args[0] as { sql: string }).sql;
        if (sql.includes('_commit_v1')) await kill(id);
        return query(...args);
      };
      break;
    }
    case 'deadlock swallowed': {
      // The handler catches the deadlock and answers as if all went well;
      // InnoDB has rolled its transaction back, payment row included.
      const error = await deadlock(tx, id);
      expect((error as { errno: number }).errno).toBe(1213);
      break;
    }
    case 'rolled back by the handler':
      await tx.query('ROLLBACK'); // against the documented rule
      break;
    case 'throw after insert':
      throw new Error('handler crashed after its insert');
    case 'none':
      break;
  }
  return { id };
}

/** The payment rows and the live record for one key, read out of band. */
async function evidence(storeKey: string, id: string) {
  const [rows] = await admin.query(`SELECT count(*) AS n FROM ${payments} WHERE id = ?`, [id]);
  const [record] = await admin.query(
    `SELECT state FROM ${table} WHERE \`key\` = ? AND expires_at > UNIX_TIMESTAMP() * 1000`,
    [Buffer.from(storeKey)],
  );
  return {
    paymentRows: Number((rows as Array<{ n: number }>)[0]!.n),
    record: (record as Array<{ state: string }>)[0]?.state,
  };
}

describe.skipIf(!up)('transactional completion', () => {
  beforeAll(async () => {
    await store.migrate();
    await admin.query(
      `CREATE TABLE ${payments} (id VARCHAR(200) PRIMARY KEY, amount INT NOT NULL)`,
    );
    await admin.query(
      `CREATE TABLE ${locks} (id VARCHAR(200) PRIMARY KEY, n INT NOT NULL DEFAULT 0)`,
    );
    await admin.query(`CREATE TABLE ${writes} (id VARCHAR(200) NOT NULL)`);
  });
  afterAll(async () => {
    await dropStore(admin, table);
    await admin.query(`DROP TABLE IF EXISTS ${payments}, ${locks}, ${writes}`);
    await endPools();
  });

  // Commit with the record, roll back on a throw, a failed commit, a result
  // not kept or a lost lease, duplicates once: the scenarios every
  // transactional store shares. The rest of this file is MySQL's own.
  transactionalSuite({
    name: 'mysql',
    store,
    write: async (claim, id) => {
      const tx = await store.transaction(claim);
      await tx.query(`INSERT INTO ${writes} (id) VALUES (?)`, [id]);
    },
    countWrites: async (id) => {
      const [rows] = await admin.query(`SELECT count(*) AS n FROM ${writes} WHERE id = ?`, [id]);
      return Number((rows as Array<{ n: number }>)[0]!.n);
    },
    // The connection dies, as in a failover: the completion cannot commit.
    breakTransaction: async (claim) => kill(threadId(await store.transaction(claim))),
  });

  describe('through the engine', () => {
    const idem = createIdempotency({ store });
    const causes: Array<[Fault, RegExp]> = [
      ['kill after insert', /killed|closed|lost|ended|ECONNRESET|EPIPE/i],
      ['kill before commit', /killed|closed|lost|ended|ECONNRESET|EPIPE/i],
      ['deadlock swallowed', /SAVEPOINT idem_transaction does not exist/],
      ['rolled back by the handler', /SAVEPOINT idem_transaction does not exist/],
    ];

    it.each(causes)(
      '%s: nothing is kept, and the retry runs exactly once',
      async (fault, cause) => {
        const id = `pay-engine-${fault}-${table}`;
        let executions = 0;
        let storeKey = '';
        const operation = (f: Fault) => (ctx: Claim) => {
          executions++;
          storeKey = ctx.storeKey;
          return pay(ctx, id, f);
        };
        const failure = await idem.run(id, operation(fault)).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(RolledBackError);
        // The cause is the fault itself: the killed connection, the ended transaction.
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

    it('a failed statement the handler catches rolls back alone (MySQL semantics): the rest commits with the record', async () => {
      const id = `pay-engine-duplicate-${table}`;
      const key = await scopedKey('', id);
      await idem.run(id, async (ctx) => {
        const tx = await store.transaction(ctx);
        await tx.query(`INSERT INTO ${payments} (id, amount) VALUES (?, 1999)`, [id]);
        const duplicate = await tx
          .query(`INSERT INTO ${payments} (id, amount) VALUES (?, 1)`, [id])
          .catch((e: unknown) => e);
        expect((duplicate as { errno: number }).errno).toBe(1062);
        return { id };
      });
      expect(await evidence(key, id)).toEqual({ paymentRows: 1, record: 'completed' });
    });

    it('many executions at once, half failing, keep exactly the successful rows', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          idem.run(`pay-many-${table}-${i}`, (ctx) =>
            pay(ctx, `pay-many-${table}-${i}`, i % 2 ? 'throw after insert' : 'none'),
          ),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
      const [rows] = await admin.query(`SELECT count(*) AS n FROM ${payments} WHERE id LIKE ?`, [
        `pay-many-${table}-%`,
      ]);
      expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(20);
    });

    it('hands out one transaction per execution, and refuses unprotected ones', async () => {
      await idem.run(`same-tx-${table}`, async (ctx) => {
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
      await expect(store.transaction(undefined as never)).rejects.toBeInstanceOf(
        ConfigurationError,
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
      ['kill after insert', 503],
      ['kill before commit', 503],
      ['deadlock swallowed', 503],
      ['throw after insert', 500],
      ['respond 500', 500],
    ] as const)(
      '%s: answers %i, keeps nothing, and the retry runs exactly once',
      async (f, status) => {
        const id = `pay-http-${f.replaceAll(' ', '-')}-${table}`;
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
      const id = `pay-real-http-202-${table}`;
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
      const id = `pay-real-http-429-${table}`;
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
