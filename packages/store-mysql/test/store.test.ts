import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createIdempotency } from '@idem/core';
import {
  type ClaimRequest,
  ConfigurationError,
  ResponseTooLargeError,
  type Store,
  StoreUnavailableError,
  scopedKey,
} from '@idem/core/store';
import { idempotency } from '@idem/hono';
import { Hono } from 'hono';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mysqlStore, schemaSql } from '../src/index.js';
import {
  connectionIds,
  countRoundTrips,
  dropStore,
  endPools,
  keptLog,
  MYSQL_URL,
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

function refused(make: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    make();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigurationError);
  expect((error as ConfigurationError).code).toBe('CONFIGURATION');
  expect((error as Error).message).toMatch(message);
}

describe('schema', () => {
  it('ships schema.sql equal to schemaSql() for the default table', () => {
    const shipped = readFileSync(new URL('../schema.sql', import.meta.url), 'utf8');
    expect(shipped).toBe(schemaSql());
  });

  it('quotes valid table names and refuses anything that could inject SQL', () => {
    expect(schemaSql('idem.records')).toContain('CREATE TABLE IF NOT EXISTS `idem`.`records`');
    expect(schemaSql('idem.records')).toContain('CREATE PROCEDURE `idem`.`records_claim_v2`');
    for (const bad of ['', 'a.b.c', 'records; DROP TABLE users', '`records`', 'rec ords', "x'y"]) {
      refused(
        () => mysqlStore({ pool: admin, table: bad }),
        /^idem: mysqlStore\(\): option "table" must be a plain identifier/,
      );
    }
    refused(() => mysqlStore({ pool: admin, table: 'r'.repeat(49) }), /at most 48 characters/);
  });
});

describe('bad options throw a ConfigurationError naming the fix, never a TypeError', () => {
  it('refuses anything but a mysql2 promise Pool', async () => {
    for (const bad of [undefined, null, 'mysql://x', 42]) {
      refused(() => mysqlStore(bad as never), /pass an options object \(\{ pool, table/);
    }
    refused(
      () => mysqlStore({} as never),
      /^idem: mysqlStore\(\): option "pool" must be a mysql2 Pool, such as mysql\.createPool\(uri\) with mysql from 'mysql2\/promise', got undefined\.$/,
    );
    const callbackPool = (await import('mysql2')).createPool({ uri: MYSQL_URL });
    refused(() => mysqlStore({ pool: callbackPool as never }), /pass pool\.promise\(\)/);
    await callbackPool.promise().end();
    const cluster = mysql.createPoolCluster();
    refused(() => mysqlStore({ pool: cluster as never }), /PoolCluster/);
    await cluster.end();
    const noFoundRows = newPool({ flags: ['-FOUND_ROWS'] });
    refused(() => mysqlStore({ pool: noFoundRows }), /remove '-FOUND_ROWS'/);
    if (up) {
      const single = await mysql.createConnection(MYSQL_URL);
      refused(() => mysqlStore({ pool: single as never }), /option "pool" is a single connection/);
      await single.end();
      const checkedOut = await admin.getConnection();
      refused(() => mysqlStore({ pool: checkedOut as never }), /pass the Pool itself/);
      checkedOut.release();
    }
  });

  it('refuses unknown option names and unusable limits', async () => {
    refused(
      () => mysqlStore({ pool: admin, tabel: 'x' } as never),
      /^idem: mysqlStore\(\): unknown option "tabel" \(did you mean "table"\?\); the options are pool, table, maxResponseBytes\.$/,
    );
    // Before the pool is looked at: `pol` is a typo, not a missing pool.
    refused(
      () => mysqlStore({ pol: admin } as never),
      /^idem: mysqlStore\(\): unknown option "pol" \(did you mean "pool"\?\)/,
    );
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1' as never]) {
      refused(
        () => mysqlStore({ pool: admin, maxResponseBytes: bad }),
        /^idem: mysqlStore\(\): option "maxResponseBytes" must be a whole number of bytes, 0 or more, got /,
      );
    }
    const store = mysqlStore({ pool: admin });
    await expect(store.purgeExpired({ batch: 5 } as never)).rejects.toThrow(
      /^idem: purgeExpired\(\): unknown option "batch" \(did you mean "batchSize"\?\); the options are batchSize/,
    );
    await expect(store.purgeExpired(null as never)).rejects.toBeInstanceOf(ConfigurationError);
    await expect(store.purgeExpired({ batchSize: 0 })).rejects.toThrow(
      'idem: purgeExpired(): option "batchSize" must be a whole number of rows, 1 or more, got 0.',
    );
  });
});

describe.skipIf(!up)('mysqlStore against MySQL/MariaDB', () => {
  const store = mysqlStore({ pool: admin, table });

  beforeAll(async () => {
    // Concurrent migrations (several instances starting at once) must not trip over each other.
    await Promise.all(Array.from({ length: 8 }, () => store.migrate()));
  });
  afterAll(async () => {
    await dropStore(admin, table);
    await endPools();
  });

  it('schema.sql runs in the command-line client, and a store works on what it created', async ({
    skip,
  }) => {
    const cliTable = uniqueTable('idem_cli');
    const client = ['mariadb', 'mysql'].find((bin) => {
      try {
        execFileSync(bin, ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (!client) return skip('neither the mariadb nor the mysql client is installed');
    const url = new URL(MYSQL_URL);
    const args = ['-h', url.hostname, '-P', url.port || '3306', '-u', url.username];
    if (url.password) args.push(`-p${decodeURIComponent(url.password)}`);
    // Twice: the script is safe to run again.
    for (let i = 0; i < 2; i++) {
      execFileSync(client, [...args, url.pathname.slice(1)], { input: schemaSql(cliTable) });
    }
    try {
      const cli = mysqlStore({ pool: admin, table: cliTable });
      const key = await freshKey();
      const owner = claim();
      expect(await cli.claim(key, owner)).toEqual({ claimed: true });
      expect(await cli.complete(key, owner.token, response('cli'), 60_000)).toBe('ok');
    } finally {
      await dropStore(admin, cliTable);
    }
  });

  it('migrates a database-qualified table and its procedures', async () => {
    const qualified = `test.${uniqueTable('idem_qualified')}`;
    const other = mysqlStore({ pool: admin, table: qualified });
    await other.migrate();
    await other.migrate();
    try {
      const key = await freshKey();
      expect(await other.claim(key, claim())).toEqual({ claimed: true });
      const [rows] = await admin.query(
        'SELECT ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
        qualified.split('.'),
      );
      expect((rows as Array<{ engine: string }>)[0]!.engine).toBe('InnoDB');
    } finally {
      await dropStore(admin, qualified);
    }
  });

  it('costs one round trip per operation', async () => {
    const pool = newPool();
    const sent = countRoundTrips(pool);
    const counted = mysqlStore({ pool, table });
    const key = await freshKey();
    const measure = async (call: () => Promise<unknown>) => {
      sent.length = 0;
      await call();
      return [...sent];
    };
    const owner = claim();
    expect(await measure(() => counted.claim(key, owner))).toEqual(['CALL claim']);
    expect(await measure(() => counted.claim(key, claim()))).toEqual(['CALL claim']); // refused, record returned
    expect(await measure(() => counted.renew(key, owner.token, 30_000))).toEqual(['UPDATE']);
    expect(await measure(() => counted.read(key))).toEqual(['SELECT']);
    expect(await measure(() => counted.complete(key, owner.token, response('x'), 60_000))).toEqual([
      'UPDATE',
    ]);
    expect(await measure(() => counted.claim(key, claim()))).toEqual(['CALL claim']); // replay
    const other = await freshKey();
    const second = claim();
    await counted.claim(other, second);
    expect(await measure(() => counted.release(other, second.token))).toEqual(['DELETE']);

    // Transactional completion: CALL begin when the handler asks, then CALL commit.
    const idem = createIdempotency({ store: counted });
    sent.length = 0;
    await idem.run('counted', async (ctx) => {
      const tx = await counted.transaction(ctx);
      await tx.query('SELECT 1');
      return 'ok';
    });
    expect(sent).toEqual(['CALL claim', 'CALL begin', 'SELECT', 'CALL commit']);
    // A failed operation: ROLLBACK + DELETE.
    sent.length = 0;
    await expect(
      idem.run('counted-fail', async (ctx) => {
        await counted.transaction(ctx);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(sent).toEqual(['CALL claim', 'CALL begin', 'ROLLBACK', 'DELETE']);
  });

  it('resolves claim races from two pools to exactly one owner, at every isolation level', async () => {
    for (const isolation of ['READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE']) {
      const pools = [newPool(), newPool()];
      for (const pool of pools) {
        pool.on('connection', (connection) => {
          connection.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${isolation}`);
        });
      }
      const stores = pools.map((pool) => mysqlStore({ pool, table }));
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
      createIdempotency({ store: mysqlStore({ pool, table }), concurrent: 'wait' }),
    );
    let runs = 0;
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        engines[i % 2]!.run(`race-key-${table}`, async () => {
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

  it('judges time by the database clock in UTC, whatever the session time zone', async () => {
    const pool = newPool();
    pool.on('connection', (connection) => {
      connection.query("SET time_zone = '+05:00'");
    });
    const zoned = mysqlStore({ pool, table });
    const key = await freshKey();
    const before = Date.now();
    await zoned.claim(key, claim('fp', 60_000));
    const record = await zoned.read(key);
    expect(record?.state).toBe('in_progress');
    const lease = (record as { leaseExpiresAt: number }).leaseExpiresAt;
    // The server runs on this machine: its clock agrees with ours within a second.
    expect(Math.abs(lease - (before + 60_000))).toBeLessThan(1_000);
  });

  it('keeps a body of exactly maxResponseBytes byte-exact, and refuses one byte more', async () => {
    const key = await freshKey();
    const owner = claim();
    await store.claim(key, owner);
    const limit = store.maxResponseBytes;
    expect(limit).toBe(4 * 1024 * 1024);
    const tooBig = { status: 200, headers: [], body: new Uint8Array(limit + 1) };
    await expect(store.complete(key, owner.token, tooBig, 60_000)).rejects.toBeInstanceOf(
      ResponseTooLargeError,
    );
    const body = new Uint8Array(limit).map((_, i) => (i * 131 + (i >> 8)) & 0xff);
    const big = { status: 200, headers: [['x-big', 'yes']] as const, body };
    expect(await store.complete(key, owner.token, big, 60_000)).toBe('ok');
    const read = await store.read(key);
    expect(read?.state === 'completed' && Buffer.from(read.response.body).equals(body)).toBe(true);
  });

  it("refuses a limit over the server's max_allowed_packet: migrate() says so, complete() throws ResponseTooLargeError", async () => {
    const [rows] = await admin.query('SELECT @@max_allowed_packet AS packet');
    const packet = Number((rows as Array<{ packet: number }>)[0]!.packet);
    const generous = mysqlStore({ pool: admin, table, maxResponseBytes: packet });
    await expect(generous.migrate()).rejects.toThrow(
      /max_allowed_packet is \d+ bytes.*raise max_allowed_packet, or pass maxResponseBytes: \d+ or less/,
    );
    const key = await freshKey();
    const owner = claim();
    await generous.claim(key, owner);
    const body = new Uint8Array(Math.ceil(packet / 2) + 1);
    const error = await generous
      .complete(key, owner.token, { status: 200, headers: [], body }, 60_000)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    // Nothing changed, and the connection the server closed did not go back to the pool.
    expect((await generous.read(key))?.state).toBe('in_progress');
    expect(await generous.complete(key, owner.token, response('small'), 60_000)).toBe('ok');
  });

  describe('purgeExpired', () => {
    const purgeTable = uniqueTable('idem_purge');
    const purging = mysqlStore({ pool: admin, table: purgeTable });
    beforeAll(() => purging.migrate());
    afterAll(() => dropStore(admin, purgeTable));
    const rows = async () => {
      const [found] = await admin.query(`SELECT \`key\` FROM ${purgeTable} ORDER BY \`key\``);
      return (found as Array<{ key: Buffer }>).map((r) => r.key.toString());
    };

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
      const sent = countRoundTrips(counting);
      const purger = mysqlStore({ pool: counting, table: purgeTable });
      expect(await purger.purgeExpired({ batchSize: 5 })).toBe(13);
      expect(sent.filter((s) => s === 'DELETE')).toHaveLength(3); // 5 + 5 + 3
      expect(await rows()).toEqual([...live].sort());
      expect(await Promise.all(live.map((k) => purging.read(k)))).toEqual(before);
      expect(await purging.purgeExpired()).toBe(0);
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

  describe('a store that was never migrated', () => {
    const fix = /run `await store\.migrate\(\)` or apply schema\.sql/;

    it('throws from every operation a ConfigurationError naming the fix and the table, with the database error as cause', async () => {
      const missing = uniqueTable('idem_never_migrated');
      const never = mysqlStore({ pool: admin, table: missing });
      const key = await freshKey();
      const calls: Array<[string, () => Promise<unknown>, number]> = [
        ['claim', () => never.claim(key, claim()), 1305], // its procedure is missing first
        ['complete', () => never.complete(key, 'token', response('x'), 60_000), 1146],
        ['release', () => never.release(key, 'token'), 1146],
        ['renew', () => never.renew(key, 'token', 30_000), 1146],
        ['read', () => never.read(key), 1146],
        ['purgeExpired', () => never.purgeExpired(), 1146],
      ];
      for (const [name, call, cause] of calls) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, name).toBeInstanceOf(ConfigurationError);
        expect((error as Error).message, name).toMatch(fix);
        expect((error as Error).message, name).toContain(missing);
        expect(((error as Error).cause as { errno: number }).errno, name).toBe(cause);
      }
      // A table without its procedures (created by hand from the CREATE TABLE alone).
      await admin.query(
        schemaSql(missing)
          .split(';\n')[0]!
          .replace(/^--.*\n/gm, ''),
      );
      try {
        const error = await never.claim(key, claim()).catch((e: unknown) => e);
        expect((error as Error).message).toMatch(/stored procedures of the table .* do not exist/);
        expect((error as Error).message).toMatch(fix);
      } finally {
        await dropStore(admin, missing);
      }
    });

    it('answers clients a plain 503 and hands the ConfigurationError to the storeError hook', async () => {
      const missing = uniqueTable('idem_never_migrated');
      const seen: unknown[] = [];
      const log = keptLog();
      const app = new Hono();
      app.use(
        idempotency({
          store: mysqlStore({ pool: admin, table: missing }),
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
      // The operator sees the banner whatever the hooks (once per distinct
      // message: the claim's give-back, in the background, may add its own).
      expect(log.lines[0]).toContain('*** idem: the store is not set up');
      expect(log.lines[0]).toMatch(fix);
      for (const line of log.lines) expect(line).toContain('*** idem: the store is not set up');
    });
  });

  describe('errors surface as store-unavailable (503), never as a 500', () => {
    // Each engine (the direct one and the app's) reports its first store failure once.
    let log = keptLog();
    const claimFailed = expect.stringContaining('idem: the store failed during claim');
    beforeEach(() => {
      log = keptLog();
    });
    const app = (s: Store) => {
      const hono = new Hono();
      hono.use(idempotency({ store: s, scope: () => '', logger: log.logger }));
      hono.post('/', (c) => c.text('ran', 201));
      return hono;
    };
    const post = (hono: Hono, key: string) =>
      hono.request('/', { method: 'POST', headers: { 'idempotency-key': key } });

    it('a connection killed mid-claim', async () => {
      const victim = newPool();
      const ids = connectionIds(victim);
      const killed = mysqlStore({ pool: victim, table });
      const engine = createIdempotency({ store: killed, logger: log.logger });
      const key = await scopedKey('', `killed-${table}`);
      // An uncommitted row for the same key makes the claims wait on its lock.
      const blocker = await admin.getConnection();
      await blocker.query('START TRANSACTION');
      await blocker.query(
        `INSERT INTO ${table} (\`key\`, fingerprint, state, token, expires_at) VALUES (?, 'x', 'in_progress', 't', 0)`,
        [Buffer.from(key)],
      );
      const pending = engine.run(`killed-${table}`, () => 'never').catch((e: unknown) => e);
      const http = post(app(killed), `killed-${table}`);
      let kills = 0;
      for (let i = 0; i < 200 && kills < 2; i++) {
        await sleep(20);
        const [waiting] = await admin.query(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID IN (?) AND COMMAND = 'Query'",
          [[...ids, 0]],
        );
        for (const { id } of waiting as Array<{ id: number }>) {
          await admin.query(`KILL ${id}`);
          kills++;
        }
      }
      expect(kills).toBe(2);
      expect(await pending).toBeInstanceOf(StoreUnavailableError);
      const res = await http;
      expect(res.status).toBe(503);
      expect((await res.json()).type).toBe('urn:idem:problem:store-unavailable');
      await blocker.query('ROLLBACK');
      blocker.release();
      // The pool replaced the dead connections: the store works again.
      expect((await post(app(killed), `killed-${table}`)).status).toBe(201);
      expect(log.lines).toEqual([claimFailed, claimFailed]);
    });

    it('a pool pointed at a closed port', async () => {
      const port = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number };
          server.close(() => resolve(port));
        });
      });
      const pool = newPool({ uri: `mysql://root@127.0.0.1:${port}/test`, connectTimeout: 500 });
      const closed = mysqlStore({ pool, table });
      await expect(
        createIdempotency({ store: closed, logger: log.logger }).run('closed', () => 1),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      const res = await post(app(closed), 'closed');
      expect(res.status).toBe(503);
      expect((await res.json()).type).toBe('urn:idem:problem:store-unavailable');
      expect(log.lines).toEqual([claimFailed, claimFailed]);
    });
  });
});
