import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createIdempotency } from '@idem/core';
import {
  type ClaimRequest,
  ConfigurationError,
  type Store,
  StoreUnavailableError,
  scopedKey,
} from '@idem/core/store';
import { idempotency } from '@idem/hono';
import { Hono } from 'hono';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postgresStore, schemaSql } from '../src/index.js';
import {
  countStatements,
  DATABASE_URL,
  endPools,
  idle,
  keptLog,
  newPool,
  uniqueTable,
  up,
} from './db.js';

const table = uniqueTable('idem_store');
const admin = newPool();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let keys = 0;
const freshKey = () => scopedKey(`store-test:${table}`, String(keys++));
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

describe('schema', () => {
  it('ships schema.sql equal to schemaSql() for the default table', () => {
    const shipped = readFileSync(new URL('../schema.sql', import.meta.url), 'utf8');
    expect(shipped).toBe(schemaSql());
  });

  it('quotes valid table names and refuses anything that could inject SQL', () => {
    expect(schemaSql('idem.records')).toContain('CREATE TABLE IF NOT EXISTS "idem"."records"');
    for (const bad of [
      '',
      'a.b.c',
      'records; DROP TABLE users',
      '"records"',
      'rec ords',
      "x'y",
      '1records',
      'r'.repeat(49),
    ]) {
      expect(() => postgresStore({ pool: admin, table: bad }), bad).toThrow(
        /^idem: postgresStore\(\): option "table" must be a plain identifier or schema\.identifier/,
      );
    }
  });
});

describe('bad options throw a ConfigurationError naming the fix, never a TypeError', () => {
  const refused = (make: () => unknown, message: RegExp) => {
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).code).toBe('CONFIGURATION');
    expect((error as Error).message).toMatch(message);
  };

  it('refuses anything but a Pool: nothing, a Client, a checked-out client', async () => {
    for (const bad of [undefined, null, 'postgres://x', 42]) {
      refused(
        () => postgresStore(bad as never),
        /pass an options object \(\{ pool, table, preparedStatements \}\)/,
      );
    }
    refused(
      () => postgresStore({} as never),
      /^idem: postgresStore\(\): option "pool" must be a pg Pool, such as new pg.Pool\(\{ connectionString \}\), got undefined\.$/,
    );
    refused(
      () => postgresStore({ pool: new pg.Client({ connectionString: DATABASE_URL }) as never }),
      /option "pool" is a pg Client.*pass a pg Pool: \{ pool: new pg.Pool/,
    );
    if (up) {
      const client = await admin.connect();
      refused(() => postgresStore({ pool: client as never }), /pass the Pool itself/);
      client.release();
    }
  });

  it('refuses unknown option names (a typo would silently use the default)', () => {
    refused(
      () => postgresStore({ pool: admin, tabel: 'x' } as never),
      /^idem: postgresStore\(\): unknown option "tabel" \(did you mean "table"\?\); the options are pool, table, preparedStatements\.$/,
    );
    // Before the pool is looked at: `pol` is a typo, not a missing pool.
    refused(
      () => postgresStore({ pol: admin } as never),
      /^idem: postgresStore\(\): unknown option "pol" \(did you mean "pool"\?\)/,
    );
    const store = postgresStore({ pool: admin });
    return Promise.all([
      expect(store.purgeExpired({ batch: 5 } as never)).rejects.toThrow(
        /^idem: purgeExpired\(\): unknown option "batch" \(did you mean "batchSize"\?\); the options are batchSize/,
      ),
      expect(store.purgeExpired(null as never)).rejects.toBeInstanceOf(ConfigurationError),
      expect(store.purgeExpired({ batchSize: -1 })).rejects.toThrow(
        'idem: purgeExpired(): option "batchSize" must be a whole number of rows, 1 or more, got -1.',
      ),
    ]);
  });
});

describe.skipIf(!up)('a store whose table was never created', () => {
  const missing = uniqueTable('idem_never_migrated');
  const store = postgresStore({ pool: admin, table: missing });
  const fix = /run `await store\.migrate\(\)` or apply schema\.sql/;

  it('throws from every operation a ConfigurationError naming the fix and the table, with the database error as cause', async () => {
    const key = await freshKey();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['claim', () => store.claim(key, claim())],
      ['complete', () => store.complete(key, 'token', response('x'), 60_000)],
      ['release', () => store.release(key, 'token')],
      ['renew', () => store.renew(key, 'token', 30_000)],
      ['read', () => store.read(key)],
      ['purgeExpired', () => store.purgeExpired()],
    ];
    for (const [name, call] of calls) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message, name).toMatch(fix);
      expect((error as Error).message, name).toContain(missing);
      expect(((error as Error).cause as { code: string }).code, name).toBe('42P01');
    }
  });

  it('answers clients a plain 503 and hands the ConfigurationError to the storeError hook', async () => {
    const seen: unknown[] = [];
    const log = keptLog();
    const app = new Hono();
    app.use(
      idempotency({
        store,
        scope: () => '',
        hooks: { storeError: ({ error }) => seen.push(error) },
        logger: log.logger,
      }),
    );
    app.post('/', (c) => c.text('ran', 201));
    const res = await app.request('/', { method: 'POST', headers: { 'idempotency-key': 'k' } });
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(JSON.parse(body).type).toBe('urn:idem:problem:store-unavailable');
    expect(body).not.toContain(missing); // nothing internal reaches the client
    expect(seen).toHaveLength(1);
    expect((seen[0] as ConfigurationError).code).toBe('CONFIGURATION');
    expect((seen[0] as Error).message).toMatch(fix);
    // The operator sees the banner whatever the hooks.
    expect(log.lines).toEqual([expect.stringContaining('*** idem: the store is not set up')]);
    expect(log.lines[0]).toMatch(fix);
  });

  it('names a table of another shape too (a column is missing)', async () => {
    const foreign = uniqueTable('idem_foreign_shape');
    await admin.query(`CREATE TABLE ${foreign} (key text PRIMARY KEY)`);
    try {
      const error = await postgresStore({ pool: admin, table: foreign })
        .read(await freshKey())
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/lacks a column the store needs/);
      expect(((error as Error).cause as { code: string }).code).toBe('42703');
    } finally {
      await admin.query(`DROP TABLE IF EXISTS ${foreign}`);
    }
  });
});

describe.skipIf(!up)('postgresStore against PostgreSQL', () => {
  const store = postgresStore({ pool: admin, table });

  beforeAll(async () => {
    // Concurrent migrations (several instances starting at once) must not trip over each other.
    await Promise.all(Array.from({ length: 8 }, () => store.migrate()));
  });
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.query('DROP SCHEMA IF EXISTS idem_store_schema_test CASCADE');
    await endPools();
  });

  it('migrates a schema-qualified table, logged (not UNLOGGED)', async () => {
    await admin.query('CREATE SCHEMA IF NOT EXISTS idem_store_schema_test');
    const qualified = postgresStore({ pool: admin, table: 'idem_store_schema_test.records' });
    await qualified.migrate();
    await qualified.migrate();
    const key = await freshKey();
    expect(await qualified.claim(key, claim())).toEqual({ claimed: true });
    const { rows } = await admin.query(
      `SELECT relpersistence FROM pg_class WHERE oid = 'idem_store_schema_test.records'::regclass`,
    );
    expect(rows[0].relpersistence).toBe('p');
  });

  it('costs one statement (one round trip) per operation', async () => {
    const pool = newPool();
    const sent = countStatements(pool);
    const counted = postgresStore({ pool, table });
    const key = await freshKey();
    const measure = async (call: () => Promise<unknown>) => {
      sent.length = 0;
      await call();
      return [...sent];
    };
    const owner = claim();
    expect(await measure(() => counted.claim(key, owner))).toEqual(['WITH']);
    expect(await measure(() => counted.claim(key, claim()))).toEqual(['WITH']); // refused, record returned
    expect(await measure(() => counted.renew(key, owner.token, 30_000))).toEqual(['UPDATE']);
    expect(await measure(() => counted.read(key))).toEqual(['SELECT']);
    expect(await measure(() => counted.complete(key, owner.token, response('x'), 60_000))).toEqual([
      'UPDATE',
    ]);
    expect(await measure(() => counted.claim(key, claim()))).toEqual(['WITH']); // replay
    const other = await freshKey();
    const second = claim();
    await counted.claim(other, second);
    expect(await measure(() => counted.release(other, second.token))).toEqual(['DELETE']);

    // Transactional completion: BEGIN when the handler asks, then UPDATE + COMMIT.
    const idem = createIdempotency({ store: counted });
    sent.length = 0;
    await idem.run('counted', async (ctx) => {
      const tx = await counted.transaction(ctx);
      await tx.query('SELECT 1');
      return 'ok';
    });
    expect(sent).toEqual(['WITH', 'BEGIN', 'SELECT', 'UPDATE', 'COMMIT']);
    // A failed operation: ROLLBACK + DELETE.
    sent.length = 0;
    await expect(
      idem.run('counted-fail', async (ctx) => {
        await counted.transaction(ctx);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(sent).toEqual(['WITH', 'BEGIN', 'ROLLBACK', 'DELETE']);
  });

  it('resolves claim races from two pools to exactly one owner, even under SERIALIZABLE', async () => {
    for (const isolation of ['read committed', 'repeatable read', 'serializable']) {
      const options = `-c default_transaction_isolation=${isolation.replace(' ', '\\ ')}`;
      const pools = [newPool({ options }), newPool({ options })];
      const stores = pools.map((pool) => postgresStore({ pool, table }));
      for (let round = 0; round < 3; round++) {
        const key = await freshKey();
        // An expired record first, so the racers also race to take it over.
        await stores[0]!.claim(key, claim('fp', 1));
        await sleep(5);
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => stores[i % 2]!.claim(key, claim())),
        );
        expect(
          results.filter((r) => r.claimed),
          isolation,
        ).toHaveLength(1);
      }
      await endPools(pools);
    }
  }, 60_000);

  it('runs the operation once when two engines on two pools race one key', async () => {
    const pools = [newPool(), newPool()];
    const engines = pools.map((pool) =>
      createIdempotency({ store: postgresStore({ pool, table }), concurrent: 'wait' }),
    );
    let runs = 0;
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        engines[i % 2]!.run('race-key', async () => {
          runs++;
          await sleep(50);
          return { charge: 'ch_1' };
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(outcomes.filter((o) => o.kind === 'executed')).toHaveLength(1);
    expect(outcomes.every((o) => o.value.charge === 'ch_1')).toBe(true);
    await endPools(pools);
  });

  describe('purgeExpired', () => {
    const purgeTable = uniqueTable('idem_purge');
    const purging = postgresStore({ pool: admin, table: purgeTable });
    beforeAll(() => purging.migrate());
    afterAll(() => admin.query(`DROP TABLE IF EXISTS ${purgeTable}`));
    const rows = async () =>
      (await admin.query(`SELECT key FROM ${purgeTable} ORDER BY key`)).rows.map((r) => r.key);

    it('deletes expired records in bounded batches and never touches live ones', async () => {
      const live: string[] = [];
      for (let i = 0; i < 12; i++) {
        const key = await freshKey();
        const owner = claim('live', 60_000);
        await purging.claim(key, owner);
        if (i % 2) await purging.complete(key, owner.token, response(`live ${i}`), 60_000);
        live.push(key);
      }
      for (let i = 0; i < 13; i++) {
        const key = await freshKey();
        const owner = claim('expired', i % 2 ? 1 : 60_000);
        await purging.claim(key, owner);
        if (!(i % 2)) await purging.complete(key, owner.token, response('short'), 1);
      }
      const before = await Promise.all(live.map((k) => purging.read(k)));
      await sleep(20);
      const counting = newPool();
      const sent = countStatements(counting);
      const purger = postgresStore({ pool: counting, table: purgeTable });
      expect(await purger.purgeExpired({ batchSize: 5 })).toBe(13);
      expect(sent.filter((s) => s === 'DELETE')).toHaveLength(3); // 5 + 5 + 3
      expect(await rows()).toEqual([...live].sort());
      expect(await Promise.all(live.map((k) => purging.read(k)))).toEqual(before);
      expect(await purging.purgeExpired()).toBe(0);
      await expect(purging.purgeExpired({ batchSize: 0 })).rejects.toThrow(ConfigurationError);
    });

    it('never deletes a record a concurrent claim just took over', async () => {
      const expired = await Promise.all(Array.from({ length: 300 }, () => freshKey()));
      for (const key of expired) await purging.claim(key, claim('old', 1));
      await sleep(20);
      const [, claims] = await Promise.all([
        (async () => {
          let n = 0;
          for (let i = 0; i < 20; i++) n += await purging.purgeExpired({ batchSize: 7 });
          return n;
        })(),
        Promise.all(expired.map((key) => purging.claim(key, claim('new')))),
      ]);
      expect(claims.every((c) => c.claimed)).toBe(true);
      const records = await Promise.all(expired.map((key) => purging.read(key)));
      expect(records.every((r) => r?.state === 'in_progress' && r.fingerprint === 'new')).toBe(
        true,
      );
    });
  });

  describe('errors surface as store-unavailable (503), never as a 500', () => {
    // Each engine (the direct one and the app's) reports its first store failure once.
    let log = keptLog();
    const claimFailed = expect.stringContaining('idem: the store failed during claim');
    beforeEach(() => {
      log = keptLog();
    });
    const app = (store: Store) => {
      const hono = new Hono();
      hono.use(idempotency({ store, scope: () => '', logger: log.logger }));
      hono.post('/', (c) => c.text('ran', 201));
      return hono;
    };
    const post = (hono: Hono, key: string) =>
      hono.request('/', { method: 'POST', headers: { 'idempotency-key': key } });

    it('a backend terminated mid-claim', async () => {
      const victim = newPool({ application_name: 'idem-victim' });
      const store = postgresStore({ pool: victim, table });
      const engine = createIdempotency({ store, logger: log.logger });
      const key = await scopedKey('', 'terminated');
      // An uncommitted row for the same key makes the claim wait on its lock.
      const blocker = await admin.connect();
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO ${table} (key, fingerprint, state, token, expires_at) VALUES ($1, 'x', 'in_progress', 't', now())`,
        [key],
      );
      // The engine's claim and an HTTP request's claim both wait on it.
      const pending = engine.run('terminated', () => 'never').catch((e: unknown) => e);
      const http = post(app(store), 'terminated');
      let terminated = 0;
      for (let i = 0; i < 200 && terminated < 2; i++) {
        await sleep(20);
        const { rows } = await admin.query(
          `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
           WHERE application_name = 'idem-victim' AND wait_event_type = 'Lock'`,
        );
        terminated += rows.length;
      }
      expect(terminated).toBe(2);
      expect(await pending).toBeInstanceOf(StoreUnavailableError);
      const res = await http;
      expect(res.status).toBe(503);
      expect((await res.json()).type).toBe('urn:idem:problem:store-unavailable');
      await blocker.query('ROLLBACK');
      blocker.release();
      // The pool replaced the dead connections: the store works again.
      expect((await post(app(store), 'terminated')).status).toBe(201);
      expect(idle(victim).waiting).toBe(0);
      expect(log.lines).toEqual([claimFailed, claimFailed]);
    });

    it('a pool pointed at a closed port', async () => {
      const port = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number };
          server.close(() => resolve(port));
        });
      });
      const pool = newPool({
        connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
        connectionTimeoutMillis: 500,
      });
      const store = postgresStore({ pool, table });
      await expect(
        createIdempotency({ store, logger: log.logger }).run('closed', () => 1),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      const res = await post(app(store), 'closed');
      expect(res.status).toBe(503);
      expect((await res.json()).type).toBe('urn:idem:problem:store-unavailable');
      expect(log.lines).toEqual([claimFailed, claimFailed]);
    });

    it('a pool that times out handing out a connection', async () => {
      const pool = newPool({ max: 1, connectionTimeoutMillis: 200 });
      const store = postgresStore({ pool, table });
      const held = await pool.connect();
      try {
        await expect(
          createIdempotency({ store, logger: log.logger }).run('busy', () => 1),
        ).rejects.toBeInstanceOf(StoreUnavailableError);
        expect((await post(app(store), 'busy')).status).toBe(503);
        expect(log.lines).toEqual([claimFailed, claimFailed]);
      } finally {
        held.release();
      }
    });
  });
});
