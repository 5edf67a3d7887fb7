import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fcOptions } from '../../test/fc.js';
import { gate, type TestStoreOptions, testStore } from '../../test/store.js';
import {
  ConfigurationError,
  FingerprintMismatchError,
  IdempotencyError,
  RequestInFlightError,
  ResponseNotStoredError,
  ResponseTooLargeError,
  RolledBackError,
  StoreUnavailableError,
} from '../errors.js';
import type { IdempotencyHooks } from '../hooks.js';
import { scopedKey } from '../scope.js';
import { isNotStoredMarker } from './not-stored.js';
import type { IdempotencyOptions } from './options.js';
import { createIdempotency } from './run.js';

type HookName = keyof IdempotencyHooks;
const HOOKS: HookName[] = [
  'started',
  'finished',
  'storeCall',
  'executed',
  'replayed',
  'inFlight',
  'mismatch',
  'released',
  'storeError',
  'leaseLost',
  'completionFailed',
];

/** Hooks that record every event, in order. */
function recorder() {
  const events: Array<{ name: HookName; event: { storeKey: string } & Record<string, unknown> }> =
    [];
  const hooks = Object.fromEntries(
    HOOKS.map((name) => [name, (event: { storeKey: string }) => events.push({ name, event })]),
  ) as IdempotencyHooks;
  const named = (name: HookName) => events.filter((e) => e.name === name).map((e) => e.event);
  return { events, hooks, named };
}

function setup(options: Partial<IdempotencyOptions> = {}, storeOptions: TestStoreOptions = {}) {
  const store = testStore(storeOptions);
  const rec = recorder();
  const idem = createIdempotency({ store, hooks: rec.hooks, ...options });
  return { store, idem, ...rec };
}

/** An operation that counts its executions. */
function counted<T>(fn: () => T | Promise<T>) {
  const op = Object.assign(
    async () => {
      op.runs++;
      return fn();
    },
    { runs: 0 },
  );
  return op;
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

afterEach(() => {
  vi.useRealTimers();
});

describe('run: once per key, then replay', () => {
  it('executes once and replays the stored value', async () => {
    const { idem, named } = setup();
    const op = counted(() => ({ id: 7, items: ['a'] }));
    expect(await idem.run('k', op)).toEqual({ kind: 'executed', value: { id: 7, items: ['a'] } });
    expect(await idem.run('k', op)).toEqual({ kind: 'replayed', value: { id: 7, items: ['a'] } });
    expect(await idem.run('k', op)).toMatchObject({ kind: 'replayed' });
    expect(op.runs).toBe(1);
    expect(named('executed')).toEqual([expect.objectContaining({ stored: true })]);
    expect(named('replayed')).toHaveLength(2);
  });

  it('keeps scopes apart: the same key in another scope runs again', async () => {
    const { idem } = setup();
    const op = counted(() => 1);
    await idem.run('k', op, { scope: 'tenant-a' });
    await idem.run('k', op, { scope: 'tenant-b' });
    await idem.run('k', op);
    expect(op.runs).toBe(3);
    expect((await idem.run('k', op, { scope: 'tenant-a' })).kind).toBe('replayed');
  });

  it('replays undefined and falsy results', async () => {
    const { idem } = setup();
    for (const [key, value] of [
      ['u', undefined],
      ['z', 0],
      ['f', false],
      ['e', ''],
      ['n', null],
    ] as const) {
      await idem.run(key, () => value);
      expect(await idem.run(key, () => 'other')).toEqual({ kind: 'replayed', value });
    }
  });

  it('uses a custom codec both ways', async () => {
    const { idem } = setup();
    const codec = {
      encode: (d: Date) => new TextEncoder().encode(d.toISOString()),
      decode: (b: Uint8Array) => new Date(new TextDecoder().decode(b)),
    };
    const when = new Date('2024-01-02T03:04:05.000Z');
    await idem.run('k', () => when, { codec });
    const replay = await idem.run('k', () => new Date(0), { codec });
    expect(replay.value).toBeInstanceOf(Date);
    expect(replay.value.getTime()).toBe(when.getTime());
  });

  it('hands the operation its execution context', async () => {
    const { idem } = setup();
    let seen: unknown;
    await idem.run(
      'k',
      (ctx) => {
        seen = ctx;
      },
      { scope: 's' },
    );
    expect(seen).toEqual({
      storeKey: await scopedKey('s', 'k'),
      token: expect.stringMatching(/^[0-9a-f-]{36}\.[0-9a-z]+$/),
      protected: true,
    });
  });

  it('refuses an empty key with a ConfigurationError', async () => {
    const { idem } = setup();
    await expect(idem.run('', () => 1)).rejects.toThrow(ConfigurationError);
    await expect(idem.run(undefined as unknown as string, () => 1)).rejects.toThrow(
      /non-empty string key/,
    );
  });
});

describe('run: fingerprint (payload)', () => {
  it('refuses a reused key with a different payload, and accepts the same payload in any key order', async () => {
    const { idem, named } = setup();
    const op = counted(() => 'done');
    await idem.run('k', op, { payload: { amount: 10, currency: 'eur' } });
    expect((await idem.run('k', op, { payload: { currency: 'eur', amount: 10 } })).kind).toBe(
      'replayed',
    );
    await expect(idem.run('k', op, { payload: { amount: 11, currency: 'eur' } })).rejects.toThrow(
      FingerprintMismatchError,
    );
    await expect(idem.run('k', op)).rejects.toMatchObject({ code: 'FINGERPRINT_MISMATCH' });
    expect(op.runs).toBe(1);
    expect(named('mismatch')).toHaveLength(2);
  });

  it('checks the fingerprint before the in-flight check', async () => {
    const { idem } = setup();
    const g = gate();
    const started = gate();
    const first = idem.run(
      'k',
      () => {
        started.open();
        return g.promise;
      },
      { payload: 1 },
    );
    await started.promise;
    await expect(idem.run('k', () => 0, { payload: 2 })).rejects.toThrow(FingerprintMismatchError);
    await expect(idem.run('k', () => 0, { payload: 1 })).rejects.toThrow(RequestInFlightError);
    g.open();
    await first;
  });
});

describe('run: concurrent duplicates', () => {
  it("'reject': N concurrent calls run the operation once; the others get RequestInFlightError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 50 }), async (n) => {
        const { idem, named } = setup({ retryAfterSeconds: 3 });
        const g = gate();
        const op = counted(async () => {
          await g.promise;
          return 'once';
        });
        let done = 0;
        const outcomes = Array.from({ length: n }, () =>
          settle(idem.run('k', op)).finally(() => done++),
        );
        await vi.waitFor(() => expect(done).toBe(n - 1), { timeout: 5_000, interval: 2 });
        g.open();
        const results = await Promise.all(outcomes);
        expect(op.runs).toBe(1);
        const executed = results.filter((r) => r.ok);
        expect(executed).toEqual([{ ok: true, value: { kind: 'executed', value: 'once' } }]);
        for (const r of results.filter((x) => !x.ok)) {
          expect(r.error).toBeInstanceOf(RequestInFlightError);
          expect((r.error as RequestInFlightError).retryAfterSeconds).toBe(3);
        }
        expect(named('inFlight')).toHaveLength(n - 1);
        expect((await idem.run('k', op)).kind).toBe('replayed');
      }),
      fcOptions(8),
    );
  });

  it("'wait': N concurrent calls run the operation once; the others wait and get the replay", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 50 }), async (n) => {
        const { idem, store } = setup({ concurrent: 'wait', waitTimeoutMs: 10_000 });
        const g = gate();
        const op = counted(async () => {
          await g.promise;
          return { n };
        });
        const outcomes = Array.from({ length: n }, () => idem.run('k', op));
        await vi.waitFor(() => expect(op.runs).toBe(1));
        // Longer than the first poll's delay: the duplicates share the first
        // request's claim and wait on its execution, not on the store.
        await new Promise((r) => setTimeout(r, 60));
        expect(store.calls.claim).toBe(1);
        g.open();
        const results = await Promise.all(outcomes);
        expect(store.calls.claim).toBe(1);
        expect(op.runs).toBe(1);
        expect(results.filter((r) => r.kind === 'executed')).toHaveLength(1);
        expect(results.filter((r) => r.kind === 'replayed')).toHaveLength(n - 1);
        for (const r of results) expect(r.value).toEqual({ n });
      }),
      fcOptions(5),
    );
  });

  it("'wait' is bounded: past waitTimeoutMs the duplicate gets RequestInFlightError", async () => {
    const { idem, named } = setup({ concurrent: 'wait', waitTimeoutMs: 60 });
    const g = gate();
    const op = counted(() => g.promise.then(() => 'slow'));
    const first = idem.run('k', op);
    await vi.waitFor(() => expect(op.runs).toBe(1));
    await expect(idem.run('k', op)).rejects.toThrow(RequestInFlightError);
    expect(named('inFlight')).toHaveLength(1);
    g.open();
    expect(await first).toEqual({ kind: 'executed', value: 'slow' });
    expect(op.runs).toBe(1);
  });

  it("'wait': when the first attempt fails, a waiter runs the operation instead", async () => {
    const { idem } = setup({ concurrent: 'wait' });
    const g = gate();
    let attempt = 0;
    const op = counted(async () => {
      if (++attempt === 1) {
        await g.promise;
        throw new Error('first attempt failed');
      }
      return 'second';
    });
    const first = settle(idem.run('k', op));
    await vi.waitFor(() => expect(op.runs).toBe(1));
    const waiters = [idem.run('k', op), idem.run('k', op), idem.run('k', op)];
    await new Promise((r) => setTimeout(r, 10));
    g.open();
    expect((await first).ok).toBe(false);
    const results = await Promise.all(waiters);
    expect(op.runs).toBe(2);
    expect(results.map((r) => r.kind).sort()).toEqual(['executed', 'replayed', 'replayed']);
    expect(results.every((r) => r.value === 'second')).toBe(true);
  });
});

describe('run: failures of the operation', () => {
  it('releases the key and rethrows when the operation throws; the next run executes', async () => {
    const { idem, store, named } = setup();
    const boom = new Error('boom');
    await expect(
      idem.run('k', () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(idem.run('k', () => Promise.reject(boom))).rejects.toBe(boom);
    expect(store.records.size).toBe(0);
    expect(named('released')).toEqual([
      expect.objectContaining({ reason: 'failed' }),
      expect.objectContaining({ reason: 'failed' }),
    ]);
    expect(await idem.run('k', () => 'ok')).toEqual({ kind: 'executed', value: 'ok' });
  });

  it('releases the key when shouldStore says no; the next run executes', async () => {
    const { idem, store, named } = setup();
    const op = counted(() => ({ ok: false }));
    const shouldStore = (v: { ok: boolean }) => v.ok;
    expect((await idem.run('k', op, { shouldStore })).kind).toBe('executed');
    expect(store.records.size).toBe(0);
    expect(named('released')).toEqual([expect.objectContaining({ reason: 'not_kept' })]);
    expect(named('finished')).toEqual([
      expect.objectContaining({ outcome: 'executed_not_stored' }),
    ]);
    expect((await idem.run('k', op, { shouldStore })).kind).toBe('executed');
    expect(op.runs).toBe(2);
  });

  it('a result that cannot be encoded is recorded as "ran, not stored": surfaced, never run twice', async () => {
    const { idem, store } = setup({ leaseMs: 50 });
    const op = counted(() => ({ big: 1n }));
    await expect(idem.run('k', op)).rejects.toThrow(TypeError);
    // The key is not left claimed (its lease renewed forever) nor released.
    await expect(idem.run('k', op)).rejects.toThrow(ResponseNotStoredError);
    expect(op.runs).toBe(1);
    const renewals = store.calls.renew;
    await new Promise((r) => setTimeout(r, 60));
    expect(store.calls.renew).toBe(renewals);
  });

  it('a throwing shouldStore is handled the same way', async () => {
    const { idem } = setup();
    const op = counted(() => 1);
    const shouldStore = () => {
      throw new Error('bad predicate');
    };
    await expect(idem.run('k', op, { shouldStore })).rejects.toThrow('bad predicate');
    await expect(idem.run('k', op)).rejects.toThrow(ResponseNotStoredError);
    expect(op.runs).toBe(1);
  });
});

describe('run: store failures', () => {
  it('fails closed: StoreUnavailableError, the operation does not run', async () => {
    const { idem, store, named } = setup();
    const cause = new Error('connection refused');
    store.failNext('claim', 1, cause);
    const op = counted(() => 1);
    const error = await idem.run('k', op).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', cause });
    expect((error as Error).message).toMatch(/failOpen/);
    expect(op.runs).toBe(0);
    expect(named('storeError')).toEqual([
      expect.objectContaining({ operation: 'claim', error: cause }),
    ]);
    expect((await idem.run('k', op)).kind).toBe('executed');
  });

  it('failOpen runs the operation unprotected and stores nothing', async () => {
    const { idem, store } = setup({ failOpen: true });
    store.failAlways('claim');
    let seen: unknown;
    const op = (ctx: unknown) => {
      seen = ctx;
      return 'unprotected';
    };
    expect(await idem.run('k', op)).toEqual({ kind: 'executed', value: 'unprotected' });
    expect(await idem.run('k', op)).toEqual({ kind: 'executed', value: 'unprotected' });
    expect(seen).toMatchObject({ protected: false, token: '' });
    expect(store.records.size).toBe(0);
    expect(store.calls.complete).toBe(0);
    store.heal();
    expect((await idem.run('k', () => 'protected')).kind).toBe('executed');
  });

  it('a failing release is reported and retried in the background, within the lease', async () => {
    const { idem, store, named } = setup({ leaseMs: 1_000 });
    store.failNext('release');
    const background: Promise<unknown>[] = [];
    const waitUntil = (p: Promise<unknown>) => void background.push(p);
    await expect(
      idem.run('k', () => Promise.reject(new Error('op failed')), { waitUntil }),
    ).rejects.toThrow('op failed');
    expect(named('storeError')).toEqual([expect.objectContaining({ operation: 'release' })]);
    await expect(idem.run('k', () => 1)).rejects.toThrow(RequestInFlightError);
    await Promise.all(background);
    expect(named('released')).toEqual([expect.objectContaining({ reason: 'failed' })]);
    expect((await idem.run('k', () => 1)).kind).toBe('executed');
  });

  it('a release that keeps failing leaves the key to its lease', async () => {
    let now = 1_000;
    const { idem, store } = setup({ leaseMs: 300 }, { now: () => now });
    store.failAlways('release');
    const background: Promise<unknown>[] = [];
    const waitUntil = (p: Promise<unknown>) => void background.push(p);
    await idem.run('k', () => Promise.reject(new Error('x')), { waitUntil }).catch(() => {});
    await Promise.all(background);
    expect(store.calls.release).toBeGreaterThan(1);
    await expect(idem.run('k', () => 1)).rejects.toThrow(RequestInFlightError);
    now += 300;
    expect((await idem.run('k', () => 1)).kind).toBe('executed');
  });
});

describe('run: leases', () => {
  it('renews the lease so an operation slower than leaseMs never runs twice', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { idem, store, named } = setup({ leaseMs: 300 });
    const started = gate();
    const finish = gate();
    const op = counted(async () => {
      started.open();
      await finish.promise;
      return 'slow';
    });
    const first = idem.run('k', op);
    await started.promise;
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(150); // 1.5 s in all: five leases
      await expect(idem.run('k', op)).rejects.toThrow(RequestInFlightError);
    }
    expect(store.calls.renew).toBeGreaterThanOrEqual(4);
    finish.open();
    expect(await first).toEqual({ kind: 'executed', value: 'slow' });
    expect((await idem.run('k', op)).kind).toBe('replayed');
    expect(op.runs).toBe(1);
    expect(named('leaseLost')).toHaveLength(0);
  });

  it('stops renewing once the operation finished', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { idem, store } = setup({ leaseMs: 300 });
    await idem.run('k', () => 1);
    await idem.run('j', () => Promise.reject(new Error('x'))).catch(() => {});
    await vi.advanceTimersByTimeAsync(2_000);
    expect(store.calls.renew).toBe(0);
  });

  it('a lease only runs out when its owner stops renewing: the stale owner cannot overwrite the newer result', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { idem, store, named } = setup({ leaseMs: 300 });
    store.failAlways('renew'); // the owner is cut off from the store
    const started = gate();
    const finish = gate();
    const first = idem.run('k', async () => {
      started.open();
      await finish.promise;
      return 'first';
    });
    await started.promise;
    await vi.advanceTimersByTimeAsync(301);
    expect(named('storeError').some((e) => e.operation === 'renew')).toBe(true);
    // The lease ran out: a retry takes the key over (this is what renewal prevents).
    expect(await idem.run('k', () => 'second')).toEqual({ kind: 'executed', value: 'second' });
    finish.open();
    expect(await first).toEqual({ kind: 'executed', value: 'first' });
    expect(named('leaseLost')).toHaveLength(1);
    expect(named('executed').map((e) => e.stored)).toEqual([true, false]);
    expect(await idem.run('k', () => 'third')).toEqual({ kind: 'replayed', value: 'second' });
  });
});

describe('run: completion failures', () => {
  it('returns the result, retries the completion in the background, and a retry then replays', async () => {
    const { idem, store, named } = setup();
    store.failNext('complete', 2);
    const background: Promise<unknown>[] = [];
    const op = counted(() => 'charged');
    const out = await idem.run('k', op, { waitUntil: (p) => background.push(p) });
    expect(out).toEqual({ kind: 'executed', value: 'charged' });
    expect(background).toHaveLength(1);
    // Until the completion lands, a duplicate is told to wait, never run again.
    await expect(idem.run('k', op)).rejects.toThrow(RequestInFlightError);
    await background[0];
    expect(store.calls.complete).toBe(3);
    expect(named('storeError').filter((e) => e.operation === 'complete')).toHaveLength(2);
    expect(named('executed')).toEqual([expect.objectContaining({ stored: true })]);
    expect(await idem.run('k', op)).toEqual({ kind: 'replayed', value: 'charged' });
    expect(op.runs).toBe(1);
  });

  it('gives up when the lease runs out and reports completionFailed', async () => {
    const { idem, store, named } = setup({ leaseMs: 200 });
    store.failAlways('complete');
    const background: Promise<unknown>[] = [];
    expect((await idem.run('k', () => 1, { waitUntil: (p) => background.push(p) })).kind).toBe(
      'executed',
    );
    await background[0];
    expect(named('completionFailed')).toHaveLength(1);
    expect(store.calls.complete).toBeGreaterThanOrEqual(2);
  });

  it('RolledBackError propagates, is not retried, and frees the key for the retry', async () => {
    const { idem, store, named } = setup();
    const rolledBack = new RolledBackError(new Error('serialization failure'));
    store.failNext('complete', 1, rolledBack);
    const waitUntil = vi.fn();
    const op = counted(() => 'effect');
    await expect(idem.run('k', op, { waitUntil })).rejects.toBe(rolledBack);
    expect(waitUntil).not.toHaveBeenCalled();
    await new Promise((r) => setTimeout(r, 80)); // longer than the first retry delay
    expect(store.calls.complete).toBe(1);
    expect(named('released')).toEqual([expect.objectContaining({ reason: 'rolled_back' })]);
    // Nothing took effect: the retry runs the operation, once.
    expect(await idem.run('k', op)).toEqual({ kind: 'executed', value: 'effect' });
    expect((await idem.run('k', op)).kind).toBe('replayed');
    expect(op.runs).toBe(2);
  });
});

describe('run: results too large to store', () => {
  it('maxResponseBytes: ran, not stored; a retry gets ResponseNotStoredError and never runs it again', async () => {
    const { idem, store, named } = setup({ maxResponseBytes: 10 });
    const op = counted(() => 'x'.repeat(100));
    expect(await idem.run('k', op)).toEqual({ kind: 'executed', value: 'x'.repeat(100) });
    const error = await idem.run('k', op).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseNotStoredError);
    expect(error).toMatchObject({ code: 'RESPONSE_NOT_STORED', originalStatus: 200 });
    expect(op.runs).toBe(1);
    const state = store.live(await scopedKey('', 'k'));
    expect(state.state === 'completed' && isNotStoredMarker(state.response)).toBe(true);
    expect(named('executed')).toEqual([expect.objectContaining({ stored: false })]);
    expect(named('replayed')).toEqual([expect.objectContaining({ stored: false })]);
  });

  it("the store's announced limit applies when smaller", async () => {
    const { idem } = setup({}, { maxResponseBytes: 4, announceLimit: true });
    expect(idem.options.maxResponseBytes).toBe(4);
    await idem.run('k', () => 'too long');
    await expect(idem.run('k', () => 1)).rejects.toThrow(ResponseNotStoredError);
  });

  it('a store that throws ResponseTooLargeError from complete gets the marker instead', async () => {
    const { idem, store } = setup(
      {},
      { maxResponseBytes: 4, tooLarge: (size, limit) => new ResponseTooLargeError(size, limit) },
    );
    const op = counted(() => 'too long');
    expect((await idem.run('k', op)).kind).toBe('executed');
    expect(store.calls.complete).toBe(2);
    await expect(idem.run('k', op)).rejects.toThrow(ResponseNotStoredError);
    expect(op.runs).toBe(1);
  });
});

describe('hooks', () => {
  it('fire for every kind of event, with the hashed key only', async () => {
    let now = 1_000;
    const { idem, store, events } = setup({ leaseMs: 100 }, { now: () => now });
    const scope = 'TENANT-SECRET-SCOPE';
    const key = (k: string) => `RAW-KEY-${k}`;
    const run = (k: string, op: () => unknown, extra: object = {}) =>
      settle(idem.run(key(k), op, { scope, ...extra }));

    await run('a', () => 1); // executed
    await run('a', () => 1); // replayed
    await run('a', () => 1, { payload: 'other' }); // mismatch
    const g = gate();
    const bStarted = gate();
    const inFlight = run('b', () => {
      bStarted.open();
      return g.promise;
    });
    await bStarted.promise;
    await run('b', () => 1); // conflict
    g.open();
    await inFlight;
    await run('c', () => Promise.reject(new Error('x'))); // released
    store.failNext('claim');
    await run('d', () => 1); // storeError
    const g2 = gate();
    const eStarted = gate();
    const stale = run('e', () => {
      eStarted.open();
      return g2.promise;
    });
    await eStarted.promise;
    now += 10_000; // the store's clock jumps past the lease
    // A retry in another process takes the key over (this engine's own
    // duplicates defer to the execution still running here).
    const elsewhere = createIdempotency({ store, logger: false });
    await elsewhere.run(key('e'), () => 2, { scope });
    g2.open();
    await stale; // leaseLost
    store.failAlways('complete');
    const background: Promise<unknown>[] = [];
    await run('f', () => 1, { waitUntil: (p: Promise<unknown>) => background.push(p) });
    await background[0]; // completionFailed

    const seen = new Set(events.map((e) => e.name));
    expect([...seen].sort()).toEqual([...HOOKS].sort());
    const hashes = new Set(
      await Promise.all('abcdef'.split('').map((k) => scopedKey(scope, key(k)))),
    );
    for (const { name, event } of events) {
      expect(hashes.has(event.storeKey), name).toBe(true);
      const text = JSON.stringify(event, (_k, v) => (v instanceof Error ? v.message : v));
      expect(text).not.toContain('RAW-KEY');
      expect(text).not.toContain('TENANT');
    }
  });

  it('a throwing hook never breaks a request', async () => {
    const throwing = Object.fromEntries(
      HOOKS.map((name) => [
        name,
        () => {
          throw new Error(`hook ${name} broke`);
        },
      ]),
    ) as IdempotencyHooks;
    const { idem, store } = setup({ hooks: throwing });
    expect((await idem.run('k', () => 1)).kind).toBe('executed');
    expect((await idem.run('k', () => 1)).kind).toBe('replayed');
    await expect(idem.run('k', () => 1, { payload: 2 })).rejects.toThrow(FingerprintMismatchError);
    await expect(idem.run('j', () => Promise.reject(new Error('op')))).rejects.toThrow('op');
    store.failNext('claim');
    await expect(idem.run('i', () => 1)).rejects.toThrow(StoreUnavailableError);
  });
});

describe('begin: the two-phase API', () => {
  it('complete and release act once: later calls are no-ops', async () => {
    const { idem, store } = setup();
    const d = await idem.begin({ scope: 's', key: 'k', fingerprint: 'f' });
    expect(d.kind).toBe('execute');
    if (d.kind !== 'execute') return;
    expect(d.claim.protected).toBe(true);
    expect(d.storeKey).toBe(await scopedKey('s', 'k'));
    const response = { status: 201, headers: [['x', '1']] as const, body: new Uint8Array([1, 2]) };
    await d.complete(response);
    await d.complete({ status: 500, headers: [], body: new Uint8Array() });
    await d.release();
    expect(store.calls.complete).toBe(1);
    expect(store.calls.release).toBe(0);
    const replay = await idem.begin({ scope: 's', key: 'k', fingerprint: 'f' });
    expect(replay).toEqual({ kind: 'replay', storeKey: d.storeKey, response });
  });
});

describe('configuration', () => {
  const store = testStore();
  it.each([
    ['no options', undefined, /createIdempotency\(\): pass an options object \(\{ store, leaseMs/],
    ['no store', {}, /option "store" must be a store .* got undefined/],
    ['a store without claim', { store: {} }, /option "store" must be a store \(with claim/],
    [
      'leaseMs 0',
      { store, leaseMs: 0 },
      /option "leaseMs" must be a positive, finite number of milliseconds/,
    ],
    [
      'leaseMs negative',
      { store, leaseMs: -5 },
      /option "leaseMs" must be a positive, finite number of milliseconds/,
    ],
    [
      'leaseMs NaN',
      { store, leaseMs: Number.NaN },
      /option "leaseMs" must be a positive, finite number of milliseconds/,
    ],
    ['leaseMs Infinity', { store, leaseMs: Number.POSITIVE_INFINITY }, /leaseMs/],
    [
      'ttlMs 0',
      { store, ttlMs: 0 },
      /option "ttlMs" must be a positive, finite number of milliseconds/,
    ],
    [
      'ttlMs below leaseMs',
      { store, leaseMs: 1_000, ttlMs: 999 },
      /option "ttlMs" \(999\) must be at least leaseMs \(1000\)/,
    ],
    [
      'waitTimeoutMs 0',
      { store, waitTimeoutMs: 0 },
      /option "waitTimeoutMs" must be a positive, finite number of milliseconds/,
    ],
    [
      'concurrent unknown',
      { store, concurrent: 'queue' },
      /option "concurrent" must be 'reject' or 'wait', got "queue"/,
    ],
    [
      'maxResponseBytes negative',
      { store, maxResponseBytes: -1 },
      /option "maxResponseBytes" must be a number of bytes, zero or more/,
    ],
    [
      'maxResponseBytes NaN',
      { store, maxResponseBytes: Number.NaN },
      /option "maxResponseBytes" must be a number of bytes, zero or more/,
    ],
    [
      'retryAfterSeconds NaN',
      { store, retryAfterSeconds: Number.NaN },
      /option "retryAfterSeconds" must be/,
    ],
    [
      'retryAfterSeconds negative',
      { store, retryAfterSeconds: -1 },
      /option "retryAfterSeconds" must be/,
    ],
    [
      'retryAfterSeconds Infinity',
      { store, retryAfterSeconds: Number.POSITIVE_INFINITY },
      /option "retryAfterSeconds" must be a finite number of seconds/,
    ],
  ])('refuses %s with a ConfigurationError that names the fix', (_name, options, message) => {
    let error: unknown;
    try {
      createIdempotency(options as IdempotencyOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(error).toMatchObject({ code: 'CONFIGURATION', name: 'ConfigurationError' });
    expect((error as Error).message).toMatch(/^idem: /);
    expect((error as Error).message).toMatch(message);
  });

  it('fills in the documented defaults', () => {
    expect(createIdempotency({ store }).options).toMatchObject({
      leaseMs: 30_000,
      ttlMs: 86_400_000,
      concurrent: 'reject',
      waitTimeoutMs: 10_000,
      retryAfterSeconds: 1,
      failOpen: false,
      maxResponseBytes: 10 * 1024 * 1024,
    });
    expect(createIdempotency({ store, retryAfterSeconds: 1.2 }).options.retryAfterSeconds).toBe(2);
    expect(createIdempotency({ store, maxResponseBytes: 0 }).options.maxResponseBytes).toBe(0);
  });
});
