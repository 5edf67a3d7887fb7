/**
 * The claim answers a live record with a plain read: a replay or a refused
 * claim writes no row version and takes no row lock. These tests prove both
 * on the database's own bookkeeping, and prove the race the read can lose (a
 * claim committed after the statement's snapshot) ends in a correct answer.
 */
import { type ClaimRequest, scopedKey } from '@idem/core/store';
import { cpuPressure } from '@idem/test-pressure';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/index.js';
import { endPools, newPool, uniqueTable, up } from './db.js';

const table = uniqueTable('idem_claim_read');
const admin = newPool();
let keys = 0;
const freshKey = () => scopedKey(`claim-read:${table}`, String(keys++));
const claim = (fingerprint = 'fp', leaseMs = 30_000): ClaimRequest => ({
  fingerprint,
  token: crypto.randomUUID(),
  leaseMs,
});
const response = {
  status: 201,
  headers: [['content-type', 'text/plain']] as const,
  body: new TextEncoder().encode('charged'),
};

/** The row's physical identity: a new row version changes both. */
async function version(key: string): Promise<{ ctid: string; xmin: string }> {
  const { rows } = await admin.query(`SELECT ctid::text, xmin::text FROM ${table} WHERE key = $1`, [
    key,
  ]);
  return rows[0];
}

/** The table's write counters, once every backend that wrote has exited (which flushes its stats). */
async function writes(): Promise<Record<string, number>> {
  const client = await admin.connect();
  try {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query(
      `SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables WHERE relid = $1::regclass`,
      [table],
    );
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
  } finally {
    client.release();
  }
}

/**
 * Resolves once every backend of the pool named `name` has exited. A backend
 * flushes its table statistics as it exits, before it leaves
 * pg_stat_activity; a pool's end() resolves when its sockets close, earlier.
 */
async function exited(name: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    const { rows } = await admin.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [name],
    );
    if (rows[0].n === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the backends of ${name} never exited`);
}

/**
 * The write counters once they stop moving (an exiting backend flushes its
 * statistics just after it leaves pg_stat_activity) and `ready` holds.
 */
async function settledWrites(
  ready: (w: Record<string, number>) => boolean = () => true,
): Promise<Record<string, number>> {
  let last = await writes();
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await writes();
    if (ready(now) && JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  throw new Error(`the table's statistics never settled: ${JSON.stringify(last)}`);
}

/** Resolves once a claim statement is waiting for a lock. */
async function blocked(): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0`,
      [table],
    );
    if (rows[0].n > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the claim never waited for the uncommitted insert');
}

describe.skipIf(!up)('postgresStore: the claim reads a live record without writing', () => {
  beforeAll(async () => {
    await postgresStore({ pool: admin, table }).migrate();
  });
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await endPools();
  });

  it('writes no row version, no counter and takes no lock across 2,000 replays and refused claims', async () => {
    const pool = newPool({ max: 8, application_name: `${table}_writers` });
    const store = postgresStore({ pool, table });
    const done = await freshKey();
    const busy = await freshKey();
    const owner = claim();
    expect(await store.claim(done, owner)).toEqual({ claimed: true });
    expect(await store.complete(done, owner.token, response, 60_000)).toBe('ok');
    expect(await store.claim(busy, claim())).toEqual({ claimed: true });
    await endPools([pool]);
    await exited(`${table}_writers`);
    // The writers made 2 inserts and 1 update: wait until the statistics show them.
    const before = {
      done: await version(done),
      busy: await version(busy),
      stats: await settledWrites((w) => w.n_tup_ins! >= 2 && w.n_tup_upd! >= 1),
    };

    const replaying = newPool({ max: 8, application_name: `${table}_replays` });
    const replays = postgresStore({ pool: replaying, table });
    // A row lock held on the completed row the whole time: a claim that wrote
    // or locked the row would wait for it, and this test would time out.
    const locker = await admin.connect();
    await locker.query('BEGIN');
    await locker.query(`SELECT 1 FROM ${table} WHERE key = $1 FOR UPDATE`, [done]);
    const pressure = cpuPressure();
    try {
      for (let batch = 0; batch < 125; batch++) {
        const results = await Promise.all(
          Array.from({ length: 16 }, (_, i) => replays.claim(i % 4 === 0 ? busy : done, claim())),
        );
        for (const [i, result] of results.entries()) {
          expect(result.claimed).toBe(false);
          if (result.claimed) continue;
          expect(result.record.state).toBe(i % 4 === 0 ? 'in_progress' : 'completed');
        }
      }
    } finally {
      await pressure.stop();
      await locker.query('ROLLBACK');
      locker.release();
    }
    await endPools([replaying]);
    await exited(`${table}_replays`);
    expect(await version(done)).toEqual(before.done);
    expect(await version(busy)).toEqual(before.busy);
    expect(await settledWrites()).toEqual(before.stats);
  }, 60_000);

  // A claim's read misses a row another transaction commits after the
  // statement began; its INSERT then waits for that transaction and meets the
  // committed row. The test holds the other transaction open until the claim
  // is seen waiting, so the window is hit every time, at every isolation level.
  for (const isolation of ['read committed', 'repeatable read', 'serializable']) {
    it(`answers a record committed after the claim's snapshot (${isolation})`, async () => {
      const options = `-c default_transaction_isolation=${isolation.replace(' ', '\\ ')}`;
      const store = postgresStore({ pool: newPool({ options }), table });
      const other = await admin.connect();
      try {
        for (const ending of ['in_progress', 'completed', 'rolled back'] as const) {
          const key = await freshKey();
          await other.query('BEGIN');
          await other.query(
            `INSERT INTO ${table} (key, fingerprint, state, token, expires_at, status, headers, body)
             VALUES ($1, 'theirs', $2, $3, now() + interval '1 minute', $4, $5, $6)`,
            ending === 'completed'
              ? [key, 'completed', null, 200, '[]', Buffer.from('theirs')]
              : [key, 'in_progress', 'their-token', null, null, null],
          );
          const mine = store.claim(key, claim('mine'));
          await blocked();
          await other.query(ending === 'rolled back' ? 'ROLLBACK' : 'COMMIT');
          const result = await mine;
          if (ending === 'rolled back') {
            expect(result).toEqual({ claimed: true });
          } else {
            expect(result.claimed).toBe(false);
            if (result.claimed) continue;
            expect(result.record.fingerprint).toBe('theirs');
            expect(result.record.state).toBe(ending);
          }
        }
      } finally {
        other.release();
      }
    });
  }

  it('takes an expired record over in one statement, and a resent claim finds itself', async () => {
    const store = postgresStore({ pool: admin, table });
    const key = await freshKey();
    expect(await store.claim(key, claim('old', 1))).toEqual({ claimed: true });
    await new Promise((r) => setTimeout(r, 5));
    const mine = claim('new');
    expect(await store.claim(key, mine)).toEqual({ claimed: true });
    expect(await store.claim(key, mine)).toEqual({ claimed: true }); // its reply was lost
    const read = await store.read(key);
    expect(read?.fingerprint).toBe('new');
  });
});
