import { type StoredResponse, StoreUnavailableError } from '@idem/core/store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryStore } from './index.js';

const ok: StoredResponse = { status: 200, headers: [], body: new Uint8Array([1, 2, 3]) };
const claim = (token: string, leaseMs = 1_000) => ({ fingerprint: 'fp', token, leaseMs });

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('memoryStore', () => {
  it('evicts the oldest completed records first when full, never in-flight ones', async () => {
    const c = clock();
    const store = memoryStore({ maxRecords: 3, now: c.now });
    await store.claim('inflight', claim('t0', 60_000));
    for (const key of ['done-1', 'done-2']) {
      await store.claim(key, claim(key));
      await store.complete(key, key, ok, 60_000);
    }
    expect(store.size).toBe(3);
    expect((await store.claim('new', claim('t-new'))).claimed).toBe(true);
    expect(store.size).toBe(3);
    expect(await store.read('done-1')).toBeUndefined();
    expect((await store.read('done-2'))?.state).toBe('completed');
    expect((await store.read('inflight'))?.state).toBe('in_progress');
  });

  it('evicts by age since the claim: a record completed last but claimed first goes first', async () => {
    const store = memoryStore({ maxRecords: 2, now: clock().now });
    await store.claim('slow', claim('s'));
    await store.claim('quick', claim('q'));
    await store.complete('quick', 'q', ok, 60_000);
    await store.complete('slow', 's', ok, 60_000);
    expect((await store.claim('new', claim('n'))).claimed).toBe(true);
    expect(await store.read('slow')).toBeUndefined();
    expect((await store.read('quick'))?.state).toBe('completed');
  });

  it('refuses new claims with a typed error naming the fix when full of in-flight records', async () => {
    const store = memoryStore({ maxRecords: 2, now: clock().now });
    await store.claim('a', claim('a', 60_000));
    await store.claim('b', claim('b', 60_000));
    const refused = store.claim('c', claim('c'));
    await expect(refused).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(refused).rejects.toMatchObject({ cause: { message: /raise maxRecords/ } });
    // A key already held still answers: only new records need room.
    expect((await store.claim('a', claim('x'))).claimed).toBe(false);
  });

  it('sweeps expired records before evicting live ones', async () => {
    const c = clock();
    const store = memoryStore({ maxRecords: 2, now: c.now });
    await store.claim('done', claim('d'));
    await store.complete('done', 'd', ok, 60_000);
    await store.claim('short', claim('s', 10));
    c.advance(11);
    expect((await store.claim('new', claim('n'))).claimed).toBe(true);
    expect((await store.read('done'))?.state).toBe('completed');
    expect(store.size).toBe(2);
  });

  it('sweep() deletes every expired record and keeps live ones', async () => {
    const c = clock();
    const store = memoryStore({ now: c.now });
    for (let i = 0; i < 10; i++) await store.claim(`lease-${i}`, claim(`t${i}`, 100 * (i + 1)));
    await store.claim('kept', claim('k', 60_000));
    c.advance(500);
    expect(store.sweep()).toBe(5);
    expect(store.size).toBe(6);
    expect((await store.read('kept'))?.state).toBe('in_progress');
    store.clear();
    expect(store.size).toBe(0);
  });

  it('copies what it stores, so later mutation by the caller cannot change a replay', async () => {
    const store = memoryStore();
    const body = new Uint8Array([1, 2, 3]);
    const headers: Array<[string, string]> = [['x', '1']];
    await store.claim('k', claim('t'));
    await store.complete('k', 't', { status: 201, headers, body }, 60_000);
    body[0] = 99;
    headers[0]![1] = 'changed';
    const record = await store.read('k');
    expect(record?.state === 'completed' && [...record.response.body]).toEqual([1, 2, 3]);
    expect(record?.state === 'completed' && record.response.headers).toEqual([['x', '1']]);
  });

  it('rejects a maxRecords that is not a positive integer, naming the option', () => {
    expect(() => memoryStore({ maxRecords: 0 })).toThrow(
      'idem: memoryStore(): option "maxRecords" must be a whole number of records, 1 or more, got 0.',
    );
    expect(() => memoryStore({ maxRecords: 1.5 })).toThrow(/option "maxRecords" must be a whole/);
  });
});

describe('memoryStore hands out copies', () => {
  it('a caller that changes a replayed body or the completed response changes no later replay', async () => {
    const store = memoryStore({ now: clock().now });
    const response: StoredResponse = {
      status: 201,
      headers: [['x-a', '1']],
      body: new Uint8Array([1, 2, 3]),
    };
    await store.claim('k', claim('t'));
    await store.complete('k', 't', response, 60_000);
    (response.body as Uint8Array)[0] = 9;
    const first = await store.claim('k', claim('u'));
    const replayed = first.claimed ? undefined : first.record;
    if (replayed?.state !== 'completed') throw new Error('expected a replay');
    (replayed.response.body as Uint8Array)[1] = 9;
    expect(() => (replayed.response.headers as Array<unknown>).push(['x-b', '2'])).toThrow();
    const read = await store.read('k');
    if (read?.state !== 'completed') throw new Error('expected the completed record');
    expect([...read.response.body]).toEqual([1, 2, 3]);
    expect(read.response.headers).toEqual([['x-a', '1']]);
    (read.response.body as Uint8Array)[2] = 9;
    const again = await store.claim('k', claim('v'));
    expect(
      !again.claimed && again.record.state === 'completed' && [...again.record.response.body],
    ).toEqual([1, 2, 3]);
  });

  it('refuses bad and unknown options with a ConfigurationError naming the fix', () => {
    expect(() => memoryStore({ maxRecords: 0 })).toThrow(/option "maxRecords" must be a whole/);
    expect(() => memoryStore({ maxRecord: 5 } as never)).toThrow(/unknown option "maxRecord"/);
    // Names first, before any value is looked at, with the name it was meant to be.
    expect(() => memoryStore({ maxRecrods: 0, now: 5 } as never)).toThrow(
      'idem: memoryStore(): unknown option "maxRecrods" (did you mean "maxRecords"?); the options are maxRecords, now.',
    );
    expect(() => memoryStore({ now: 5 } as never)).toThrow(
      'idem: memoryStore(): option "now" must be a function returning epoch milliseconds, such as Date.now, got 5.',
    );
    for (const bad of [{ maxRecords: -1 }, { maxRecord: 5 }, { now: 'x' }]) {
      expect(() => memoryStore(bad as never)).toThrow(
        expect.objectContaining({ code: 'CONFIGURATION' }),
      );
    }
  });
});

describe('memoryStore keeps completed records compactly', () => {
  async function keep(
    store: ReturnType<typeof memoryStore>,
    key: string,
    r: StoredResponse,
    ttl: number,
  ) {
    expect((await store.claim(key, claim(key))).claimed).toBe(true);
    expect(await store.complete(key, key, r, ttl)).toBe('ok');
  }

  it('a completed record is live until exactly its expiry', async () => {
    const c = clock();
    const store = memoryStore({ now: c.now });
    await keep(store, 'k', ok, 1_000);
    c.advance(999);
    const refused = await store.claim('k', claim('u'));
    expect(
      !refused.claimed && refused.record.state === 'completed' && refused.record.expiresAt,
    ).toBe(1_001_000);
    c.advance(1);
    expect(await store.read('k')).toBeUndefined();
    expect((await store.claim('k', claim('v'))).claimed).toBe(true);
  });

  it('a lease is live until exactly its end: the owner completes before it, not at it', async () => {
    const c = clock();
    const store = memoryStore({ now: c.now });
    await store.claim('late', claim('t1', 1_000));
    await store.claim('in-time', claim('t2', 1_001));
    c.advance(1_000);
    expect(await store.complete('late', 't1', ok, 60_000)).toBe('stale');
    expect(await store.read('late')).toBeUndefined();
    expect(await store.complete('in-time', 't2', ok, 60_000)).toBe('ok');
    expect(await store.complete('in-time', 't2', ok, 60_000)).toBe('stale');
    expect(await store.complete('in-time', 'other', ok, 60_000)).toBe('stale');
    expect((await store.read('in-time'))?.state).toBe('completed');
  });

  it('a replayed body is a buffer of its own: no other record is reachable through it', async () => {
    const store = memoryStore({ now: clock().now });
    await keep(store, 'a', { status: 200, headers: [], body: new Uint8Array([1, 2]) }, 60_000);
    await keep(store, 'b', { status: 200, headers: [], body: new Uint8Array([3, 4, 5]) }, 60_000);
    const a = await store.read('a');
    if (a?.state !== 'completed') throw new Error('expected a completed record');
    expect(a.response.body.byteOffset).toBe(0);
    expect(a.response.body.buffer.byteLength).toBe(2);
  });

  it('survivors stay byte-exact when records with mixed lifetimes leave slabs mostly garbage', async () => {
    const c = clock();
    const store = memoryStore({ now: c.now });
    const body = (i: number) => Uint8Array.from({ length: 3_000 }, (_, j) => (i * 7 + j) & 255);
    // One in eight lives long, one in eight expires later, the rest are removed or expire now.
    const ttl = (i: number) => [3_600_000, 2_000][i % 8] ?? 1_000;
    for (let i = 0; i < 480; i++) {
      await keep(store, `k${i}`, { status: 200, headers: [], body: body(i) }, ttl(i));
      if (i % 8 === 2) await store.remove!(`k${i}`);
    }
    c.advance(1_000);
    expect(store.sweep()).toBe(300);
    c.advance(1_000);
    expect(store.size).toBe(120);
    // The slabs are mostly garbage now: the next completion moves the
    // survivors, deleting the records that expired meanwhile on the way.
    for (let i = 480; i < 500; i++) {
      await keep(store, `k${i}`, { status: 200, headers: [], body: body(i) }, 3_600_000);
    }
    expect(store.size).toBe(80);
    for (let i = 0; i < 500; i++) {
      const record = await store.read(`k${i}`);
      if (ttl(i) === 3_600_000 || i >= 480) {
        expect(record?.state === 'completed' && record.response.body).toEqual(body(i));
      } else expect(record).toBeUndefined();
    }
  });

  it('replays any status, headers and body exactly as completed, through removals and expiry', async () => {
    const response = fc.record({
      status: fc.integer({ min: 100, max: 599 }),
      headers: fc.array(fc.tuple(fc.constantFrom('a', 'b', 'x-id'), fc.string({ maxLength: 8 })), {
        maxLength: 4,
      }),
      body: fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 0, max: 9_000 }).map((n) => Uint8Array.from({ length: n }, (_, i) => i)),
      ),
    });
    const op = fc.oneof(
      fc.record({ complete: fc.nat(20), response, ttl: fc.integer({ min: 1, max: 5_000 }) }),
      fc.record({ remove: fc.nat(20) }),
      fc.record({ advance: fc.integer({ min: 0, max: 2_000 }) }),
      fc.constant({ sweep: true }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60, size: 'max' }), async (ops) => {
        const c = clock();
        const store = memoryStore({ now: c.now });
        const model = new Map<string, { response: StoredResponse; expiresAt: number }>();
        for (const o of ops) {
          if ('complete' in o) {
            const key = `k${o.complete}`;
            const live = (model.get(key)?.expiresAt ?? 0) > c.now();
            const result = await store.claim(key, claim(key));
            expect(result.claimed).toBe(!live);
            if (live) continue;
            await store.complete(key, key, o.response, o.ttl);
            model.set(key, { response: o.response, expiresAt: c.now() + o.ttl });
          } else if ('remove' in o) {
            await store.remove!(`k${o.remove}`);
            model.delete(`k${o.remove}`);
          } else if ('advance' in o) c.advance(o.advance);
          else store.sweep();
        }
        for (let i = 0; i <= 20; i++) {
          const want = model.get(`k${i}`);
          const got = await store.read(`k${i}`);
          if (!want || want.expiresAt <= c.now()) expect(got).toBeUndefined();
          else expect(got).toEqual({ state: 'completed', fingerprint: 'fp', ...want });
        }
      }),
    );
  });
});
