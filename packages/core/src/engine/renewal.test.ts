import { afterEach, describe, expect, it, vi } from 'vitest';
import { testStore } from '../../test/store.js';
import { scopedKey } from '../scope.js';
import { createIdempotency } from './run.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('lease renewal', () => {
  it('renews each lease a third of a lease after its claim and each renewal, whatever else runs', async () => {
    vi.useFakeTimers();
    const store = testStore();
    const renewedAt = new Map<string, number[]>();
    const renew = store.renew.bind(store);
    store.renew = (key, token, leaseMs) => {
      renewedAt.set(key, [...(renewedAt.get(key) ?? []), Date.now()]);
      return renew(key, token, leaseMs);
    };
    const idem = createIdempotency({ store, leaseMs: 300, logger: false });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Started at other moments: one ticker renews all three, each on its own beat.
    const runs = [idem.run('a', () => sleep(1_000))];
    await vi.advanceTimersByTimeAsync(10);
    const startedAt = Date.now();
    runs.push(idem.run('b', () => sleep(700)));
    await vi.advanceTimersByTimeAsync(37);
    runs.push(idem.run('c', () => sleep(500)));
    await vi.advanceTimersByTimeAsync(1_100);
    await Promise.all(runs);
    const b = renewedAt.get(await scopedKey('', 'b'))!.map((t) => t - startedAt);
    expect(b).toEqual([100, 200, 300, 400, 500, 600]);
    const c = renewedAt.get(await scopedKey('', 'c'))!.map((t) => t - startedAt - 37);
    expect(c).toEqual([100, 200, 300, 400]);
  });
});

describe('leaseUntil: a hard deadline on the lease', () => {
  it('cuts the claim and every renewal to end by it, stops renewing there, and frees the key right after', async () => {
    vi.useFakeTimers();
    const store = testStore();
    const claims: number[] = [];
    const renewals: Array<[number, number]> = [];
    const claim = store.claim.bind(store);
    const renew = store.renew.bind(store);
    store.claim = (key, request) => {
      claims.push(request.leaseMs);
      return claim(key, request);
    };
    store.renew = (key, token, leaseMs) => {
      renewals.push([Date.now(), leaseMs]);
      return renew(key, token, leaseMs);
    };
    const idem = createIdempotency({ store, leaseMs: 300, logger: false });
    const startedAt = Date.now();
    // An invocation with 450 ms left: the run hangs past it, as a timed-out Lambda's does.
    let runs = 0;
    void idem
      .run(
        'job',
        () => {
          runs++;
          return new Promise(() => {});
        },
        { leaseUntil: startedAt + 450 },
      )
      .catch(() => {});
    await vi.advanceTimersByTimeAsync(1_000);
    expect(claims).toEqual([300]);
    // Renewed every 100 ms, each cut to end at 450 at the latest, none sent at or after it.
    expect(renewals.map(([at, ms]) => [at - startedAt, ms])).toEqual([
      [100, 300],
      [200, 250],
      [300, 150],
      [400, 50],
    ]);
    // A redelivery just after the deadline takes the key over: no wait for a whole lease.
    const outcome = await idem.run('job', () => 'second');
    expect(outcome).toEqual({ kind: 'executed', value: 'second' });
    expect(runs).toBe(1);
  });

  it('claims with 1 ms when the deadline has already passed, so the key is free again at once', async () => {
    const store = testStore();
    const claims: number[] = [];
    const claim = store.claim.bind(store);
    store.claim = (key, request) => {
      claims.push(request.leaseMs);
      return claim(key, request);
    };
    const idem = createIdempotency({ store, leaseMs: 30_000, logger: false });
    void idem
      .run('late', () => new Promise(() => {}), { leaseUntil: Date.now() - 5 })
      .catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    expect(claims).toEqual([1]);
    expect(await idem.run('late', () => 'next')).toEqual({ kind: 'executed', value: 'next' });
  });

  it('refuses a leaseUntil that is not a time, naming the fix', async () => {
    const idem = createIdempotency({ store: testStore(), logger: false });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '1000' as unknown as number]) {
      await expect(idem.run('k', () => 1, { leaseUntil: bad })).rejects.toThrow(
        /leaseUntil.*epoch milliseconds/,
      );
    }
  });
});
