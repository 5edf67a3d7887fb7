import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../../test/fc.js';
import { gate, testStore } from '../../test/store.js';
import type { FinishedOutcome, IdempotencyHooks } from '../hooks.js';
import { scopedKey } from '../scope.js';
import { bindTransaction } from './context.js';
import { createIdempotency } from './run.js';

type Name = keyof IdempotencyHooks;
type Seen = { name: Name; event: Record<string, unknown> };

/** Hooks for every event, recorded in order. */
function recorded() {
  const seen: Seen[] = [];
  const names: Name[] = [
    'started',
    'finished',
    'executed',
    'replayed',
    'inFlight',
    'mismatch',
    'released',
    'storeCall',
    'storeError',
    'leaseLost',
    'completionFailed',
  ];
  const hooks = Object.fromEntries(
    names.map((name) => [name, (event: Record<string, unknown>) => seen.push({ name, event })]),
  ) as IdempotencyHooks;
  return {
    seen,
    hooks,
    of: (name: Name) => seen.filter((s) => s.name === name).map((s) => s.event),
  };
}

const settle = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    () => undefined,
  );

describe('hook events carry what an operator needs', () => {
  it('every request with a key: one started, one finished, with its outcome and durations', async () => {
    const store = testStore();
    const { seen, hooks, of } = recorded();
    const idem = createIdempotency({ store, hooks, logger: false });
    const background: Promise<unknown>[] = [];
    const waitUntil = (p: Promise<unknown>) => void background.push(p);

    await idem.run('a', () => 'one'); // executed
    await idem.run('a', () => 'two'); // replayed
    await settle(idem.run('a', () => 'x', { payload: 'other' })); // mismatch
    const held = gate();
    const first = idem.run('b', () => held.promise);
    await settle(idem.run('b', () => 'y')); // conflict
    held.open();
    await first; // executed
    await settle(idem.run('c', () => Promise.reject(new Error('boom')))); // failed
    await idem.run('d', () => ({ ok: false }), { shouldStore: (v) => v.ok }); // executed_not_stored
    store.failNext('claim');
    await settle(idem.run('e', () => 1, { waitUntil })); // store_unavailable
    await Promise.all(background);

    const outcomes = of('finished').map((e) => e.outcome as FinishedOutcome);
    expect(outcomes).toEqual([
      'executed',
      'replayed',
      'mismatch',
      'in_flight',
      'executed',
      'failed',
      'executed_not_stored',
      'store_unavailable',
    ]);
    expect(of('started')).toHaveLength(outcomes.length);
    for (const e of of('finished')) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    // Each request's started comes before its finished, and nothing of it after.
    const byKey = new Map<string, Name[]>();
    for (const { name, event } of seen) {
      if (name === 'storeCall' || name === 'storeError') continue;
      const list = byKey.get(event.storeKey as string) ?? [];
      list.push(name);
      byKey.set(event.storeKey as string, list);
    }
    for (const names of byKey.values()) expect(names[0]).toBe('started');

    const [executed] = of('executed');
    expect(executed).toMatchObject({
      stored: true,
      status: 200,
      attempts: 1,
      renewals: 0,
      claimMs: expect.any(Number),
      durationMs: expect.any(Number),
      completeMs: expect.any(Number),
    });
    expect(of('replayed')[0]).toMatchObject({
      stored: true,
      status: 200,
      claimMs: expect.any(Number),
    });
    expect(of('released')).toEqual([
      expect.objectContaining({ reason: 'failed', durationMs: expect.any(Number) }),
      expect.objectContaining({ reason: 'not_kept' }),
    ]);
  });

  it('every store call is timed, by operation, and failures are marked', async () => {
    const store = testStore();
    const { hooks, of } = recorded();
    const idem = createIdempotency({ store, hooks, logger: false });
    await idem.run('k', () => 1);
    await idem.run('k', () => 1);
    store.failNext('claim');
    await settle(idem.run('j', () => 1));
    const calls = of('storeCall').map((e) => `${e.operation}:${e.ok}`);
    expect(calls.slice(0, 4)).toEqual(['claim:true', 'complete:true', 'claim:true', 'claim:false']);
    for (const e of of('storeCall')) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect(of('storeError')).toEqual([expect.objectContaining({ operation: 'claim' })]);
  });

  it('counts completion attempts and lease renewals', async () => {
    const store = testStore();
    const { hooks, of } = recorded();
    const idem = createIdempotency({ store, hooks, leaseMs: 300, logger: false });
    const background: Promise<unknown>[] = [];
    store.failNext('complete', 1);
    await idem.run('k', () => new Promise((resolve) => setTimeout(() => resolve('slow'), 260)), {
      waitUntil: (p) => void background.push(p),
    });
    await Promise.all(background);
    const [executed] = of('executed');
    // The first completion failed, the retry landed; renewed every leaseMs / 3 while it ran.
    expect(executed).toMatchObject({ stored: true, attempts: 2 });
    expect(executed!.renewals).toBeGreaterThanOrEqual(1);
    expect(of('finished').map((e) => e.outcome)).toEqual(['executed']);
  });

  it('names the record by hashes only: the store key, and a stable hash of the scope', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string(), fc.string({ minLength: 1 }), async (a, b, key) => {
        const { hooks, of } = recorded();
        const idem = createIdempotency({ store: testStore(), hooks, logger: false });
        await idem.run(key, () => 1, { scope: a });
        await idem.run(key, () => 1, { scope: a });
        await idem.run(key, () => 1, { scope: b });
        const [x, y, z] = of('started');
        expect(x!.storeKey).toBe(await scopedKey(a, key));
        expect(x!.scopeHash).toMatch(/^[\w-]{22}$/);
        expect(y!.scopeHash).toBe(x!.scopeHash);
        expect(z!.scopeHash === x!.scopeHash).toBe(a === b);
      }),
      fcOptions(40),
    );
  });

  it('a transactional commit that cannot be confirmed finishes as store_unavailable, once', async () => {
    const store = testStore();
    store.hangNext('complete');
    const { hooks, of } = recorded();
    const idem = createIdempotency({ store, hooks, storeTimeoutMs: 30, logger: false });
    await settle(
      idem.run('k', (context) => {
        bindTransaction(context);
        return 1;
      }),
    );
    expect(of('finished').map((e) => e.outcome)).toEqual(['store_unavailable']);
  });
});

describe('combineHooks', () => {
  it('calls every set of hooks in turn; one that throws stops none of the others', async () => {
    const { combineHooks } = await import('../hooks.js');
    const calls: string[] = [];
    const hooks = combineHooks(
      { started: () => void calls.push('a'), finished: () => void calls.push('a done') },
      {
        started: () => {
          throw new Error('broken');
        },
      },
      { started: () => void calls.push('c') },
    );
    const idem = createIdempotency({ store: testStore(), hooks, logger: false });
    await idem.run('k', () => 1);
    expect(calls).toEqual(['a', 'c', 'a done']);
  });
});

describe('event ids', () => {
  it('pair each started with its finished while duplicates of one key are in flight', async () => {
    const { of, hooks } = recorded();
    const idem = createIdempotency({ store: testStore(), hooks, logger: false });
    const held = gate();
    const first = idem.run('k', () => held.promise);
    await Promise.allSettled([idem.run('k', () => 2), idem.run('k', () => 3)]);
    held.open();
    await first;
    const started = of('started').map((e) => e.id as number);
    const finished = of('finished').map((e) => [e.id, e.outcome]);
    expect(new Set(started).size).toBe(3);
    expect(finished).toEqual([
      [started[1], 'in_flight'],
      [started[2], 'in_flight'],
      [started[0], 'executed'],
    ]);
  });
});
