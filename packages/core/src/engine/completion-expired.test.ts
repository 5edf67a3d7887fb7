import { describe, expect, it } from 'vitest';
import { testStore } from '../../test/store.js';
import type { IdempotencyHooks } from '../hooks.js';
import { createIdempotency } from './run.js';

/**
 * A completion the store refuses as stale is told apart by what the store
 * holds: another owner in flight, or another result, is a lost lease; the
 * record merely run out, with nobody else on the key, is a completion that
 * failed (the result was not stored, a retry runs again).
 */

const LEASE_MS = 1_000;

function setup(leaseMs = LEASE_MS) {
  let skew = 0;
  const store = testStore({ now: () => Date.now() + skew });
  const events: string[] = [];
  const failed: Array<Record<string, unknown>> = [];
  const hooks: IdempotencyHooks = {
    leaseLost: () => events.push('leaseLost'),
    completionFailed: (event) => {
      events.push('completionFailed');
      failed.push(event as unknown as Record<string, unknown>);
    },
    executed: (event) => events.push(`executed stored=${event.stored}`),
  };
  const idem = createIdempotency({ store, hooks, leaseMs, ttlMs: 60_000, logger: false });
  // Another process on the same store: this process's own duplicates would
  // defer to its execution still running here.
  const elsewhere = createIdempotency({ store, leaseMs, ttlMs: 60_000, logger: false });
  return { idem, elsewhere, events, failed, passTime: (ms: number) => (skew += ms) };
}

describe('a completion refused as stale', () => {
  it('when the record ran out and nobody took the key: completionFailed with the reason, not leaseLost', async () => {
    const { idem, events, failed, passTime } = setup();
    await idem.run('k', () => {
      // The handler outlives its lease (on the store's clock) before any renewal is due.
      passTime(2 * LEASE_MS);
      return 'done';
    });
    expect(events).toEqual(['completionFailed']);
    expect(failed[0]).toMatchObject({ reason: 'lease_expired', attempts: 1 });
    // Nothing was stored: the next request runs the operation again.
    let runs = 0;
    await idem.run('k', () => ++runs);
    expect(runs).toBe(1);
  });

  it('when a renewal found the record run out first: still completionFailed, and no leaseLost', async () => {
    const { idem, events, failed, passTime } = setup(60);
    await idem.run('k', async () => {
      passTime(2 * LEASE_MS);
      // A renewal is due every 20 ms: several come back stale meanwhile.
      await new Promise((r) => setTimeout(r, 100));
      return 'done';
    });
    expect(events).toEqual(['completionFailed']);
    expect(failed[0]).toMatchObject({ reason: 'lease_expired' });
  });

  it('when another owner took the key meanwhile: leaseLost, not completionFailed', async () => {
    const { idem, elsewhere, events, passTime } = setup();
    let second = 0;
    await idem.run('k', async () => {
      passTime(2 * LEASE_MS);
      // A retry elsewhere finds the lease run out, takes the key and is still running.
      const other = elsewhere.run('k', async () => {
        second++;
        await new Promise((r) => setTimeout(r, 50));
      });
      await new Promise((r) => setTimeout(r, 10));
      void other;
      return 'first';
    });
    expect(second).toBe(1);
    expect(events.slice(0, 1)).toEqual(['leaseLost']);
    expect(events).not.toContain('completionFailed');
  });

  it('when another owner took the key and finished: leaseLost, not completionFailed', async () => {
    const { idem, elsewhere, events, passTime } = setup();
    await idem.run('k', async () => {
      passTime(2 * LEASE_MS);
      await elsewhere.run('k', () => 'second');
      events.length = 0;
      return 'first';
    });
    expect(events).toEqual(['leaseLost', 'executed stored=false']);
  });
});
