import { storeChecks } from '@idem/conformance/store';
import { createIdempotency } from '@idem/core';
import {
  type ClaimRequest,
  ResponseTooLargeError,
  type StoredResponse,
  scopedKey,
} from '@idem/core/store';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { type RedisClient, redisStore } from '../src/index.js';
import {
  type CommandLog,
  commandLog,
  connect,
  connectAs,
  freshPrefix,
  LIBRARIES,
  patient,
  recommended,
  redisUp,
  sleep,
  type TestClient,
} from './helpers.js';
import { privateRedis } from './private-redis.js';

const up = await redisUp();

const claim = (token: string, leaseMs = 30_000): ClaimRequest => ({
  fingerprint: 'f'.repeat(64),
  token,
  leaseMs,
});
const response: StoredResponse = {
  status: 201,
  headers: [
    ['content-type', 'application/json'],
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2'],
  ],
  body: new TextEncoder().encode(JSON.stringify({ id: 'ch_123', amount: 1999, status: 'ok' })),
};

describe.skipIf(!up).each(LIBRARIES)('redisStore on a real Redis, through %s', (library) => {
  let connection: TestClient;
  let client: RedisClient;
  let admin: Redis;
  let log: CommandLog;
  beforeAll(async () => {
    connection = await connectAs(library, patient);
    client = connection.client;
    admin = await connect();
    log = await commandLog(await connection.addr(), admin);
  });
  afterAll(() => {
    log?.close();
    connection?.close();
    admin?.disconnect();
  });

  it("keeps one Redis string per record, whose own expiry (PX, on Redis's clock) is the lease, then the TTL", async () => {
    const prefix = freshPrefix(`layout-${library}`);
    const store = redisStore({ client, prefix });
    const key = await scopedKey('tenant', 'key-1');
    const before = Date.now();
    expect((await store.claim(key, claim('tok-1', 30_000))).claimed).toBe(true);
    expect(await admin.keys(`${prefix}*`)).toEqual([prefix + key]);
    expect(await admin.type(prefix + key)).toBe('string');
    expect(Number(await admin.pttl(prefix + key))).toBeGreaterThan(29_000);
    expect(Number(await admin.pttl(prefix + key))).toBeLessThanOrEqual(30_000);
    const record = await store.read(key);
    expect(record?.state).toBe('in_progress');
    const lease = record?.state === 'in_progress' ? record.leaseExpiresAt : 0;
    expect(lease - before).toBeGreaterThanOrEqual(30_000);
    expect(lease - Date.now()).toBeLessThanOrEqual(30_000);
    // kind 1, owner token, lease deadline, fingerprint: nothing else.
    const inFlight = await admin.getBuffer(prefix + key);
    expect(inFlight?.byteLength).toBe(1 + 2 + 'tok-1'.length + 6 + 2 + 64);
    expect(inFlight?.[0]).toBe(1);
    expect(inFlight?.toString('latin1', 3, 8)).toBe('tok-1');
    expect(inFlight?.readUIntBE(8, 6)).toBe(lease);

    expect(await store.renew(key, 'tok-1', 60_000)).toBe('ok');
    expect(Number(await admin.pttl(prefix + key))).toBeGreaterThan(59_000);
    const renewed = await store.read(key);
    const moved = renewed?.state === 'in_progress' ? renewed.leaseExpiresAt : 0;
    expect(moved).toBeGreaterThan(lease);
    expect(renewed?.fingerprint).toBe('f'.repeat(64));

    expect(await store.complete(key, 'tok-1', response, 3_600_000)).toBe('ok');
    expect(Number(await admin.pttl(prefix + key))).toBeGreaterThan(3_599_000);
    const done = await store.read(key);
    expect(done?.state).toBe('completed');
    const expires = done?.state === 'completed' ? done.expiresAt : 0;
    expect(Math.abs(expires - (Date.now() + 3_600_000))).toBeLessThan(1_000);
    // The body is kept as raw bytes at the end of the record, readable out of band.
    const completed = await admin.getBuffer(prefix + key);
    expect(completed?.[0]).toBe(2);
    expect(new Uint8Array(completed!.subarray(-response.body.byteLength))).toEqual(response.body);
  });

  it("judges leases by Redis's clock: a skewed process clock neither shortens nor stretches them", async () => {
    const store = redisStore({ client, prefix: freshPrefix('clock') });
    const [ahead, behind] = [await scopedKey('t', 'ahead'), await scopedKey('t', 'behind')];
    const skewed = vi.spyOn(Date, 'now');
    try {
      skewed.mockImplementation(() => 4_102_444_800_000); // year 2100
      expect((await store.claim(ahead, claim('tok-a', 400))).claimed).toBe(true);
      skewed.mockImplementation(() => 0); // 1970
      expect((await store.claim(behind, claim('tok-b', 400))).claimed).toBe(true);
      skewed.mockRestore();
      // Still in flight for others, whatever the owners' clocks said...
      expect((await store.claim(ahead, claim('other'))).claimed).toBe(false);
      expect((await store.claim(behind, claim('other'))).claimed).toBe(false);
      // ...and gone once Redis's clock passed the lease.
      await sleep(500);
      expect((await store.claim(ahead, claim('next'))).claimed).toBe(true);
      expect((await store.claim(behind, claim('next'))).claimed).toBe(true);
      expect(await store.complete(ahead, 'tok-a', response, 60_000)).toBe('stale');
    } finally {
      skewed.mockRestore();
    }
  });

  it('returns bodies as Uint8Arrays of their own, byte-exact', async () => {
    const store = redisStore({ client, prefix: freshPrefix('bytes') });
    const key = await scopedKey('tenant', 'bytes');
    const body = new Uint8Array(256).map((_, i) => i);
    await store.claim(key, claim('tok'));
    await store.complete(key, 'tok', { status: 200, headers: [], body: body.subarray(10) }, 60_000);
    const record = await store.read(key);
    expect(record?.state).toBe('completed');
    if (record?.state !== 'completed') return;
    expect(record.response.body).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(record.response.body)).toBe(false);
    expect(record.response.body.byteOffset).toBe(0);
    expect(record.response.body.buffer.byteLength).toBe(246);
    expect(record.response.body).toEqual(body.subarray(10));
  });

  it('costs exactly one command per operation: SET NX GET, GET, or one EVALSHA', async () => {
    const prefix = freshPrefix('rt');
    const store = redisStore({ client, prefix });
    const key = await scopedKey('tenant', 'round-trips');
    const other = await scopedKey('tenant', 'round-trips-2');
    await store.claim(other, claim('warm-up')); // loads the scripts if a SCRIPT FLUSH emptied the cache
    await store.renew(other, 'warm-up', 30_000);
    await store.complete(other, 'warm-up', response, 60_000);
    await store.release(other, 'warm-up');
    const ops: Array<[string, () => Promise<unknown>, string]> = [
      ['claim', () => store.claim(key, claim('tok')), 'set'],
      ['renew', () => store.renew(key, 'tok', 30_000), 'evalsha'],
      ['read', () => store.read(key), 'get'],
      ['complete', () => store.complete(key, 'tok', response, 60_000), 'evalsha'],
      ['claim (replay)', () => store.claim(key, claim('tok-2')), 'set'],
      ['release (stale)', () => store.release(key, 'tok'), 'evalsha'],
    ];
    for (const [name, op, command] of ops) {
      const commands = await log.during(op, prefix);
      expect(
        commands.map((c) => c[0]?.toLowerCase()),
        name,
      ).toEqual([command]);
    }
    const claimCommand = (await log.during(() => store.claim(other, claim('tok-3')), prefix))[0]!;
    expect(claimCommand.filter((a) => /^[a-z]+$/i.test(a)).map((a) => a.toUpperCase())).toEqual([
      'SET',
      'PX',
      'NX',
      'GET',
    ]);
    const k2 = await scopedKey('tenant', 'release');
    await store.claim(k2, claim('tok'));
    const release = await log.during(() => store.release(k2, 'tok'), prefix);
    expect(release.map((c) => c[0]?.toLowerCase())).toEqual(['evalsha']);
  });

  it('through the engine: a first request costs 2 round trips, a replay 1', async () => {
    const prefix = freshPrefix('engine');
    const idem = createIdempotency({ store: redisStore({ client, prefix }), ttlMs: 60_000 });
    await idem.run('warm-up', () => 0);
    let runs = 0;
    const first = await log.during(
      () => idem.run('order-1', () => ++runs, { payload: { a: 1 } }),
      prefix,
    );
    const replay = await log.during(async () => {
      const outcome = await idem.run('order-1', () => ++runs, { payload: { a: 1 } });
      expect(outcome).toEqual({ kind: 'replayed', value: 1 });
    }, prefix);
    expect(first.map((c) => c[0]?.toLowerCase())).toEqual(['set', 'evalsha']);
    expect(replay.map((c) => c[0]?.toLowerCase())).toEqual(['set']);
    expect(runs).toBe(1);
  });

  it('survives SCRIPT FLUSH: the next script falls back to EVAL once, then EVALSHA again', async () => {
    // On a Redis of its own: other test files run side by side on the shared
    // one, and their scripts would reload the cache between FLUSH and EVALSHA.
    const own = await privateRedis();
    onTestFinished(() => own.stop());
    const connection = await connectAs(library, { url: own.url });
    const admin = await connect(recommended, own.url);
    const log = await commandLog(await connection.addr(), admin, own.url);
    onTestFinished(() => {
      log.close();
      connection.close();
      admin.disconnect();
    });
    const client = connection.client;
    const store = redisStore({ client, prefix: freshPrefix('noscript') });
    const key = await scopedKey('tenant', 'noscript');
    await admin.script('FLUSH');
    expect((await store.claim(key, claim('tok'))).claimed).toBe(true); // native: no script
    const fallback = await log.during(async () => {
      expect(await store.renew(key, 'tok', 30_000)).toBe('ok');
    });
    expect(fallback.map((c) => c[0]?.toLowerCase())).toEqual(['evalsha', 'eval']);
    await admin.script('FLUSH');
    expect(await store.complete(key, 'tok', response, 60_000)).toBe('ok');
    await admin.script('FLUSH');
    expect(await store.renew(key, 'tok', 1_000)).toBe('stale');
    await admin.script('FLUSH');
    expect(await store.release(key, 'tok')).toBe('stale');
    const record = await store.read(key);
    expect(record?.state === 'completed' && record.response.status).toBe(201);
    const cached = await log.during(() => store.release(key, 'tok'));
    expect(cached.map((c) => c[0]?.toLowerCase())).toEqual(['evalsha']);
  });

  it('writes the same record whether this store claimed the key or another one did', async () => {
    // A store sends the whole record for its own claims, and lets the script copy the fingerprint otherwise.
    const prefix = freshPrefix('paths');
    const [mine, theirs] = [redisStore({ client, prefix }), redisStore({ client, prefix })];
    const [a, b] = [await scopedKey('t', 'a'), await scopedKey('t', 'b')];
    const request = { fingerprint: 'fp-é-\u{1F511}', token: 'tok-ü', leaseMs: 30_000 };
    for (const key of [a, b]) expect((await mine.claim(key, request)).claimed).toBe(true);
    await theirs.renew(await scopedKey('t', 'c'), 'tok', 1_000); // cache the script (SCRIPT FLUSH above)
    const args = log.during(async () => {
      expect(await mine.renew(a, 'tok-ü', 40_000)).toBe('ok');
      expect(await theirs.renew(b, 'tok-ü', 40_000)).toBe('ok');
    });
    expect((await args).map((c) => c.length)).toEqual([7, 8]); // EVALSHA sha 1 key prefix record ms [tail]
    const strip = (v: Buffer | null, at: number) =>
      Buffer.concat([v!.subarray(0, at), v!.subarray(at + 6)]);
    const at = 3 + Buffer.byteLength('tok-ü');
    expect(strip(await admin.getBuffer(prefix + a), at)).toEqual(
      strip(await admin.getBuffer(prefix + b), at),
    );
    expect(await mine.complete(a, 'tok-ü', response, 60_000)).toBe('ok');
    expect(await theirs.complete(b, 'tok-ü', response, 60_000)).toBe('ok');
    const [ra, rb] = [await mine.read(a), await theirs.read(b)];
    expect(ra).toMatchObject({ state: 'completed', fingerprint: request.fingerprint, response });
    expect(rb).toMatchObject({ state: 'completed', fingerprint: request.fingerprint, response });
    expect(strip(await admin.getBuffer(prefix + a), 1)).toEqual(
      strip(await admin.getBuffer(prefix + b), 1),
    );
  });

  it('treats a resent claim (same fresh token, after a reconnect) as the claim it is', async () => {
    const store = redisStore({ client, prefix: freshPrefix('resend') });
    const key = await scopedKey('tenant', 'resend');
    expect((await store.claim(key, claim('tok'))).claimed).toBe(true);
    expect((await store.claim(key, claim('tok'))).claimed).toBe(true);
    expect((await store.claim(key, claim('other'))).claimed).toBe(false);
    expect(await store.complete(key, 'tok', response, 60_000)).toBe('ok');
    expect((await store.claim(key, claim('tok'))).claimed).toBe(false);
  });

  it('keeps prefixes apart', async () => {
    const a = redisStore({ client, prefix: freshPrefix('a') });
    const b = redisStore({ client, prefix: freshPrefix('b') });
    const key = await scopedKey('tenant', 'shared');
    expect((await a.claim(key, claim('tok-a'))).claimed).toBe(true);
    expect(await b.read(key)).toBeUndefined();
    expect((await b.claim(key, claim('tok-b'))).claimed).toBe(true);
    expect(await b.complete(key, 'tok-a', response, 60_000)).toBe('stale');
  });

  it('refuses a body over maxResponseBytes with ResponseTooLargeError (conformance check)', async () => {
    const prefix = freshPrefix('limit');
    const store = redisStore({ client, prefix, maxResponseBytes: 64 });
    expect(store.maxResponseBytes).toBe(64);
    const checks = storeChecks({
      name: 'redis (64-byte limit)',
      clock: 'server',
      createStore: () => store,
    }).filter((c) => c.name.startsWith('refuses a response over its maxResponseBytes'));
    expect(checks).toHaveLength(1);
    await checks[0]!.run();
    const key = await scopedKey('tenant', 'too-large');
    await store.claim(key, claim('tok'));
    await expect(
      store.complete(key, 'tok', { status: 200, headers: [], body: new Uint8Array(65) }, 60_000),
    ).rejects.toBeInstanceOf(ResponseTooLargeError);
  });

  it('measures the memory a record takes (MEMORY USAGE), with the default prefix', async ({
    annotate,
  }) => {
    const store = redisStore({ client });
    const key = await scopedKey('tenant', `memory-${crypto.randomUUID()}`);
    const redisKey = `idem:${key}`;
    try {
      const owner = crypto.randomUUID(); // as the engine mints them
      await store.claim(key, claim(owner));
      const inFlight = Number(await admin.memory('USAGE', redisKey, 'SAMPLES', 0));
      await store.complete(key, owner, response, 86_400_000);
      const completed = Number(await admin.memory('USAGE', redisKey, 'SAMPLES', 0));
      const headers = JSON.stringify(response.headers).length;
      await annotate(
        `MEMORY USAGE (key ${redisKey.length} chars): in flight ${inFlight} B; completed with ${headers} bytes of headers and a ${response.body.byteLength}-byte body ${completed} B`,
        'figures',
      );
      expect(inFlight).toBeLessThan(300);
      expect(completed).toBeLessThan(300 + headers + response.body.byteLength);
    } finally {
      await admin.del(redisKey);
    }
  });
});
