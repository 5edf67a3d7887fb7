import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testStore } from '../../test/store.js';
import { FingerprintMismatchError, RequestInFlightError } from '../errors.js';
import type { IdempotencyOptions } from './options.js';
import { createIdempotency } from './run.js';

/**
 * Duplicates of one key in one process share one claim and one wait: the
 * first asks the store, the others take its answer, or wait for its
 * execution here instead of polling the store.
 */

function gate() {
  let open: () => void = () => {};
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

function setup(options: Partial<IdempotencyOptions> = {}) {
  const store = testStore();
  const idem = createIdempotency({ store, logger: false, ...options });
  return { store, idem };
}

const outcome = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

describe('single flight: duplicates in one process', () => {
  it("'reject': duplicates sent while the first claim is on its way share it, and are refused without a store call", async () => {
    const { store, idem } = setup();
    const g = gate();
    const first = idem.run('k', () => g.promise.then(() => 'done'));
    const duplicates = Array.from({ length: 200 }, () => outcome(idem.run('k', () => 'again')));
    const refused = await Promise.all(duplicates);
    expect(refused.every((r) => !r.ok && r.error instanceof RequestInFlightError)).toBe(true);
    expect(store.calls.claim).toBe(1);
    g.open();
    expect(await first).toEqual({ kind: 'executed', value: 'done' });
    expect(await idem.run('k', () => 'again')).toEqual({ kind: 'replayed', value: 'done' });
  });

  it("'wait': 200 duplicates make one claim and one completion, and each gets the replay when it lands", async () => {
    const { store, idem } = setup({ concurrent: 'wait' });
    let runs = 0;
    const all = await Promise.all(
      Array.from({ length: 201 }, () =>
        idem.run('k', async () => {
          runs++;
          await new Promise((r) => setTimeout(r, 50));
          return { charge: 'ch_1' };
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(all.filter((o) => o.kind === 'replayed')).toHaveLength(200);
    expect(store.calls).toMatchObject({ claim: 1, complete: 1, read: 0 });
  });

  it("'wait': when the execution is released, one waiter runs the operation and the others replay it", async () => {
    const { store, idem } = setup({ concurrent: 'wait' });
    let runs = 0;
    const all = await Promise.all(
      Array.from({ length: 20 }, () =>
        outcome(
          idem.run('k', async () => {
            runs++;
            await new Promise((r) => setTimeout(r, 20));
            if (runs === 1) throw new Error('first attempt failed');
            return runs;
          }),
        ),
      ),
    );
    expect(runs).toBe(2);
    expect(all.filter((o) => !o.ok)).toHaveLength(1);
    expect(all.filter((o) => o.ok && o.value.kind === 'executed')).toHaveLength(1);
    expect(all.filter((o) => o.ok && o.value.kind === 'replayed')).toHaveLength(18);
    // One claim per attempt plus the waiters' after the release, not one per poll.
    expect(store.calls.claim).toBeLessThanOrEqual(2 + 19);
  });

  it('a duplicate with another payload is not joined: the store refuses it as a mismatch', async () => {
    const { idem } = setup({ concurrent: 'wait' });
    const g = gate();
    const first = idem.run('k', () => g.promise.then(() => 1), { payload: 'a' });
    await expect(idem.run('k', () => 2, { payload: 'b' })).rejects.toThrow(
      FingerprintMismatchError,
    );
    g.open();
    await first;
  });

  it("'wait' is still bounded by waitTimeoutMs when the execution here outlasts it", async () => {
    const { store, idem } = setup({ concurrent: 'wait', waitTimeoutMs: 50 });
    const g = gate();
    const first = idem.run('k', () => g.promise.then(() => 1));
    await expect(idem.run('k', () => 2)).rejects.toThrow(RequestInFlightError);
    expect(store.calls.claim).toBe(1);
    g.open();
    await first;
  });

  it('scopes never share a flight', async () => {
    const { store, idem } = setup({ concurrent: 'wait' });
    const ran: string[] = [];
    await Promise.all(
      ['a', 'b', 'a', 'b'].map((scope) =>
        idem.run(
          'k',
          async () => {
            ran.push(scope);
            await new Promise((r) => setTimeout(r, 10));
            return scope;
          },
          { scope },
        ),
      ),
    );
    expect(ran.sort()).toEqual(['a', 'b']);
    expect(store.calls.claim).toBe(2);
  });

  it('property: any mix of duplicates, payloads and outcomes runs each (key, payload) at most once per attempt, and every answer matches what the store holds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            key: fc.constantFrom('k1', 'k2'),
            payload: fc.constantFrom('a', 'b'),
            fails: fc.boolean(),
            delay: fc.integer({ min: 0, max: 5 }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.constantFrom('reject' as const, 'wait' as const),
        async (calls, concurrent) => {
          const { idem } = setup({ concurrent, waitTimeoutMs: 2_000 });
          const stored = new Map<string, string>();
          const results = await Promise.all(
            calls.map(async (c, i) => {
              await new Promise((r) => setTimeout(r, c.delay));
              return outcome(
                idem.run(
                  c.key,
                  async () => {
                    await new Promise((r) => setTimeout(r, 3));
                    if (c.fails) throw new Error('failed');
                    const value = `${c.key}:${c.payload}:${i}`;
                    // A key completes at most once: a second success would be a double execution.
                    expect(stored.has(c.key)).toBe(false);
                    stored.set(c.key, value);
                    return value;
                  },
                  { payload: c.payload },
                ),
              );
            }),
          );
          for (const [i, r] of results.entries()) {
            if (!r.ok) continue;
            // Whatever came back is what the store kept for that key.
            expect(r.value.value).toBe(stored.get(calls[i]!.key));
          }
        },
      ),
      { numRuns: 60, verbose: 1 },
    );
  });
});

describe('single flight off', () => {
  it('singleFlight: false sends every duplicate to the store, as separate processes would', async () => {
    const { store, idem } = setup({ singleFlight: false });
    const g = gate();
    const first = idem.run('k', () => g.promise.then(() => 'done'));
    const refused = await Promise.all(
      Array.from({ length: 20 }, () => outcome(idem.run('k', () => 1))),
    );
    expect(refused.every((r) => !r.ok && r.error instanceof RequestInFlightError)).toBe(true);
    expect(store.calls.claim).toBe(21);
    g.open();
    await first;
  });
});
