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
