import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { endPools, newPool, uniqueTable, up } from './db.js';

/**
 * A pool client handed to `transaction()` by a pool that had just taken it
 * back, in the same socket read that carries its backend's FATAL 57P01
 * (pg_terminate_backend, a failover, a restart): its 'error' event must find a
 * listener, or the process crashes with an uncaught exception.
 */
const table = uniqueTable('idem_checkout');
const admin = newPool();

/** Block the event loop: whatever the server sends meanwhile arrives in one read. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy on purpose
  }
}

describe.skipIf(!up)('checkout of a client whose backend was just terminated', () => {
  const uncaught: unknown[] = [];
  const record = (error: unknown) => uncaught.push(error);
  beforeAll(async () => {
    await postgresStore({ pool: admin, table }).migrate();
    process.on('uncaughtException', record);
  });
  afterAll(async () => {
    process.off('uncaughtException', record);
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await endPools();
  });

  it('attaches the error listener before the client can emit', async () => {
    const application_name = uniqueTable('idem_checkout');
    for (let round = 0; round < 3; round++) {
      // One connection: transaction() waits for the one pool.query is using.
      const pool = newPool({ max: 1, application_name });
      const store = postgresStore({ pool, table });
      const key = `checkout-${application_name}-${round}`;
      const token = crypto.randomUUID();
      expect(await store.claim(key, { fingerprint: 'fp', token, leaseMs: 30_000 })).toEqual({
        claimed: true,
      });
      const doomed = await pool.connect();
      const { pid } = (await doomed.query('SELECT pg_backend_pid() AS pid')).rows[0];
      doomed.release();
      const handedOut: unknown[] = [];
      pool.on('acquire', (client) => handedOut.push(client));
      await admin.query('SELECT 1'); // the admin connection is open and idle

      const busy = pool.query('SELECT pg_sleep(0.05)');
      const tx = store.transaction({ storeKey: key, token, protected: true });
      // Terminates the backend after it answered pool.query, while this process is blocked.
      const kill = admin.query('SELECT pg_terminate_backend($1) FROM pg_sleep(0.3)', [pid]);
      await new Promise((resolve) => setImmediate(resolve)); // both queries are on the wire
      blockEventLoop(1_000);

      await busy; // answered before the backend was terminated
      expect((await kill).rows[0].pg_terminate_backend).toBe(true);
      const client = await tx.catch((error: unknown) => error);
      expect(uncaught).toEqual([]);
      // The race did happen: the pool handed the doomed client to transaction() too.
      expect(handedOut.slice(0, 2)).toEqual([doomed, doomed]);
      // transaction() hands out a live connection, not the terminated one.
      expect(client).not.toBeInstanceOf(Error);
      const { rows } = await (client as import('pg').PoolClient).query(
        'SELECT pg_backend_pid() AS pid',
      );
      expect(rows[0].pid).not.toBe(pid);
      expect(await store.release(key, token)).toBe('ok');
      await endPools([pool]);
    }
  }, 30_000);
});
