import { type StoredResponse, StoreUnavailableError } from '@idem/core';
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
    expect(() => memoryStore({ maxRecords: 0 })).toThrow(/maxRecords must be a positive integer/);
    expect(() => memoryStore({ maxRecords: 1.5 })).toThrow(/maxRecords/);
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
    expect(() => memoryStore({ maxRecords: 0 })).toThrow(/maxRecords must be a positive integer/);
    expect(() => memoryStore({ maxRecord: 5 } as never)).toThrow(/unknown option "maxRecord"/);
    expect(() => memoryStore({ now: 5 } as never)).toThrow(/now must be a function/);
    for (const bad of [{ maxRecords: -1 }, { maxRecord: 5 }, { now: 'x' }]) {
      expect(() => memoryStore(bad as never)).toThrow(
        expect.objectContaining({ code: 'CONFIGURATION' }),
      );
    }
  });
});
