import { type ClaimRequest, scopedKey } from '@idem/core/store';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { dropStore, endPools, newPool, uniqueTable, up } from './db.js';

const table = uniqueTable('idem_replay');
const admin = newPool();
const store = mysqlStore({ pool: admin, table });
let keys = 0;
const freshKey = () => scopedKey(`replay-test:${table}`, String(keys++));
const claim = (fingerprint = 'fp', leaseMs = 30_000): ClaimRequest => ({
  fingerprint,
  token: crypto.randomUUID(),
  leaseMs,
});
const response = (text: string) => ({
  status: 201,
  headers: [['content-type', 'text/plain']] as const,
  body: new TextEncoder().encode(text),
});

type Counters = Record<string, number>;

/** Status counters as numbers, by name. */
async function status(
  on: mysql.Pool | mysql.PoolConnection,
  scope: 'SESSION' | 'GLOBAL',
  names: string[],
) {
  const [rows] = await on.query(`SHOW ${scope} STATUS WHERE Variable_name IN (?)`, [names]);
  return Object.fromEntries(
    (rows as Array<{ Variable_name: string; Value: string }>).map((r) => [
      r.Variable_name,
      Number(r.Value),
    ]),
  ) as Counters;
}
const delta = (after: Counters, before: Counters): Counters =>
  Object.fromEntries(Object.keys(after).map((name) => [name, after[name]! - (before[name] ?? 0)]));

// What each server exposes: MariaDB has no Innodb_rows_updated, MySQL 8.0.30+ no Innodb_lsn_current.
const SESSION = ['Handler_write', 'Handler_update', 'Handler_delete'];
const GLOBAL = [
  'Innodb_rows_updated',
  'Innodb_rows_inserted',
  'Innodb_lsn_current',
  'Innodb_os_log_written',
];

afterAll(async () => {
  if (up) await dropStore(admin, table);
  await endPools();
});

describe.skipIf(!up)('a replay writes nothing and locks nothing', () => {
  beforeAll(() => store.migrate());

  /**
   * `operation` on a completed key, on a pool of one connection: the
   * session's handler counters over `replays` calls less those over none
   * (reading the counters writes a temporary table of its own), exact; and
   * the server's row and redo log counters around one call, the smallest
   * change over up to `windows` calls. Those are global: other sessions
   * (other test files) write meanwhile, so one call that moves nothing is
   * the proof, and a store whose every replay writes moves them every time.
   */
  async function replayCost(
    operation: (s: typeof store, key: string) => Promise<unknown>,
    windows = 300,
    replays = 50,
  ): Promise<{ session: Counters; global: Counters }> {
    const pool = newPool({ connectionLimit: 1 });
    const replaying = mysqlStore({ pool, table });
    const key = await freshKey();
    const owner = claim();
    expect(await store.claim(key, owner)).toEqual({ claimed: true });
    expect(await store.complete(key, owner.token, response('done'), 600_000)).toBe('ok');
    await operation(replaying, key); // the connection is open, the procedure cached
    const connection = await pool.getConnection();
    const measure = async (n: number) => {
      const before = await status(connection, 'SESSION', SESSION);
      for (let i = 0; i < n; i++) await operation(replaying, key);
      return delta(await status(connection, 'SESSION', SESSION), before);
    };
    connection.release();
    // The pool has one connection: the counters and the replays share it.
    const session = delta(await measure(replays), await measure(0));
    let global: Counters | undefined;
    for (let window = 0; window < windows; window++) {
      const before = await status(admin, 'GLOBAL', GLOBAL);
      await operation(replaying, key);
      const moved = delta(await status(admin, 'GLOBAL', GLOBAL), before);
      const sum = (c: Counters) => Object.values(c).reduce((a, b) => a + b, 0);
      if (global === undefined || sum(moved) < sum(global)) global = moved;
      if (sum(global) === 0) break;
    }
    await endPools([pool]);
    return { session, global: global! };
  }

  it('replays of a completed key leave the write counters and the redo log as they were', async () => {
    const replay = async (s: typeof store, key: string) => {
      const result = await s.claim(key, claim());
      expect(result.claimed === false && result.record.state).toBe('completed');
    };
    const cost = await replayCost(replay);
    console.log(
      `50 replays, session: ${JSON.stringify(cost.session)}; one replay, server: ${JSON.stringify(cost.global)}`,
    );
    expect(Object.keys(cost.global)).toContain('Innodb_os_log_written'); // both servers have it
    for (const [name, moved] of Object.entries({ ...cost.session, ...cost.global })) {
      expect(moved, name).toBe(0);
    }
    // The measurement sees writes: claims and renewals move the counters.
    const renewals = await replayCost(async (s, key) => {
      const owner = claim();
      await s.remove?.(key);
      await s.claim(key, owner);
      await s.renew(key, owner.token, 60_000);
    }, 1);
    expect(renewals.session.Handler_update).toBeGreaterThanOrEqual(50);
    expect(renewals.session.Handler_write).toBeGreaterThanOrEqual(50);
    expect(renewals.global.Innodb_os_log_written).toBeGreaterThan(0);
  });

  it('answers a replay while another transaction holds the row locked, at every isolation level', async () => {
    const key = await freshKey();
    const owner = claim();
    await store.claim(key, owner);
    await store.complete(key, owner.token, response('locked'), 600_000);
    for (const isolation of ['READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE']) {
      const pool = newPool({ connectionLimit: 1 });
      // A locking read (FOR UPDATE, or any read SERIALIZABLE turns into a
      // shared lock) would wait 1 s for the row and fail with 1205; a plain one never waits.
      pool.on('connection', (c) => {
        c.query('SET SESSION innodb_lock_wait_timeout = 1');
        c.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${isolation}`);
      });
      const locker = await admin.getConnection();
      try {
        await locker.query('START TRANSACTION');
        await locker.query(`SELECT 1 FROM ${table} WHERE \`key\` = ? FOR UPDATE`, [
          Buffer.from(key),
        ]);
        const result = await mysqlStore({ pool, table }).claim(key, claim());
        expect(result.claimed === false && result.record.state, isolation).toBe('completed');
      } finally {
        await locker.query('ROLLBACK');
        locker.release();
        await endPools([pool]);
      }
    }
  });
});

// The race of claims under CPU pressure that hits the window between the
// procedure's read and its insert runs in the deep tier: claim-race.deep.test.ts.
