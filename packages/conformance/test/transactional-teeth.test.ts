import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reachServer } from '../src/server.js';
import {
  type TransactionalSuiteOptions,
  transactionalChecks,
  transactionalSuite,
} from '../src/transactional.js';
import { type FixtureStore, fixtureStore, type TransactionalFlaw } from './transactional-store.js';

/**
 * The transactional suite must have teeth: a store whose writes commit with
 * the record and only with it passes every check, and each classic mistake
 * fails the check aimed at it, with a message that names what went wrong.
 * The writes are real PostgreSQL transactions.
 */

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Pool({ connectionString: url, max: 2 });
const pool = new pg.Pool({ connectionString: url, max: 12 });
admin.on('error', () => {});
pool.on('error', () => {});
const up = await reachServer('PostgreSQL', url, () => admin.query('SELECT 1'));
const writes = `idem_conformance_tx_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
const stores: FixtureStore[] = [];

function options(flaw: TransactionalFlaw): TransactionalSuiteOptions {
  const store = fixtureStore(pool, flaw);
  stores.push(store);
  return {
    name: `fixture (${flaw})`,
    store,
    write: async (claim, id) => {
      const tx = await store.transaction(claim);
      await tx.query(`INSERT INTO ${writes} (id) VALUES ($1)`, [id]);
    },
    countWrites: async (id) =>
      (await admin.query(`SELECT count(*)::int AS n FROM ${writes} WHERE id = $1`, [id])).rows[0].n,
    breakTransaction: async (claim) => {
      const tx = await store.transaction(claim);
      // A failed statement aborts a PostgreSQL transaction: its COMMIT then answers ROLLBACK.
      await tx.query('SELECT 1/0').catch(() => {});
    },
    leaseMs: 200,
    maxConcurrency: 6,
  };
}

/** Every failing check's name and message. */
async function failures(flaw: TransactionalFlaw): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  for (const check of transactionalChecks(options(flaw))) {
    try {
      await check.run();
    } catch (error) {
      failed.set(check.name, String(error));
    }
  }
  return failed;
}

beforeAll(async () => {
  if (up) await admin.query(`CREATE TABLE ${writes} (id text NOT NULL)`);
});
afterAll(async () => {
  for (const store of stores) store.close();
  if (up) await admin.query(`DROP TABLE IF EXISTS ${writes}`);
  await Promise.all([pool.end(), admin.end()]);
});

describe.skipIf(!up)('the transactional suite has teeth', () => {
  it('passes a store whose writes commit with the record, and leaves no connection checked out', async () => {
    expect(await failures('none')).toEqual(new Map());
    expect(pool.totalCount - pool.idleCount).toBe(0);
  }, 120_000);

  const cases: Array<[TransactionalFlaw, string, RegExp]> = [
    [
      'writes outside the transaction',
      'a thrown operation rolls its writes back and releases the key; the retry runs once',
      /^ConformanceError: After an operation threw \(roll the operation's transaction back in release\(\).*\): expected 0 committed write\(s\) of the operation, found 1\.$/,
    ],
    [
      'release commits',
      'a result shouldStore does not keep rolls back and throws RolledBackError',
      /After a result not kept .*expected 0 committed write\(s\) of the operation, found 1\./,
    ],
    [
      'commit ignores a lost lease',
      "a lost lease never commits the first owner's writes",
      /After the first owner's late complete\(\): expected 0 committed write\(s\) of the operation, found 1\./,
    ],
    [
      'failed commit reported as ok',
      'a failed commit answers RolledBackError, keeps nothing, and the retry runs once',
      /run\(\) of an operation whose transaction could not commit resolved: complete\(\) must reject with RolledBackError/,
    ],
    [
      'no bindTransaction',
      'a result shouldStore does not keep rolls back and throws RolledBackError',
      /run\(\) whose shouldStore kept no result resolved: the store must call bindTransaction\(claim\)/,
    ],
    [
      'late transaction opened',
      'a write after the operation finished is refused',
      /A write with the claim of an operation that finished succeeded/,
    ],
  ];
  for (const [flaw, check, message] of cases) {
    it(`fails a store whose flaw is "${flaw}" in "${check}"`, async () => {
      const failed = await failures(flaw);
      expect([...failed.keys()]).toContain(check);
      expect(failed.get(check)).toMatch(message);
    }, 120_000);
  }
});

// The suite as a store author declares it, on the store without a flaw.
transactionalSuite({
  ...options('none'),
  name: 'fixture',
  skip: !up && 'PostgreSQL is not reachable',
});
