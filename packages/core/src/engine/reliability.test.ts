import { afterEach, describe, expect, it, vi } from 'vitest';
import { gate, testStore } from '../../test/store.js';
import {
  ConfigurationError,
  isIdempotencyError,
  RequestInFlightError,
  RolledBackError,
  StoreUnavailableError,
} from '../errors.js';
import type { IdempotencyHooks } from '../hooks.js';
import { scopedKey } from '../scope.js';

import { bindTransaction, type Claim } from './context.js';
import type { IdempotencyOptions } from './options.js';
import { createIdempotency } from './run.js';

afterEach(() => {
  vi.useRealTimers();
});

/** Collects background work handed to `waitUntil`, so a test can await it. */
function background() {
  const pending: Promise<unknown>[] = [];
  return {
    waitUntil: (p: Promise<unknown>) => void pending.push(p),
    settled: () => Promise.allSettled(pending),
  };
}

/** A logger that records what idem writes. */
function recordingLogger() {
  const lines: string[] = [];
  return {
    lines,
    logger: {
      warn: (message: string) => void lines.push(`warn ${message}`),
      error: (message: string) => void lines.push(`error ${message}`),
    },
  };
}

describe('every store call is bounded in time (storeTimeoutMs)', () => {
  it('a claim that never answers fails like a store that is down: StoreUnavailableError, nothing runs', async () => {
    const store = testStore();
    const idem = createIdempotency({ store, storeTimeoutMs: 50, logger: false });
    store.hangNext('claim');
    let runs = 0;
    const started = Date.now();
    const error = await idem.run('k', () => ++runs).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(isIdempotencyError(error, 'STORE_UNAVAILABLE')).toBe(true);
    expect((error as StoreUnavailableError).cause).toMatchObject({ name: 'StoreTimeoutError' });
    expect(String((error as Error & { cause: Error }).cause.message)).toMatch(/storeTimeoutMs/);
    expect(runs).toBe(0);
  });

  it('a completion that never answers never holds the result back, and is retried while the lease holds', async () => {
    const store = testStore();
    const work = background();
    const events: string[] = [];
    const idem = createIdempotency({
      store,
      storeTimeoutMs: 50,
      logger: false,
      hooks: { executed: (e) => events.push(`executed ${e.stored}`) },
    });
    store.hangNext('complete');
    const started = Date.now();
    const outcome = await idem.run('k', () => 'charged', { waitUntil: work.waitUntil });
    expect(outcome).toEqual({ kind: 'executed', value: 'charged' });
    expect(Date.now() - started).toBeLessThan(2_000);
    await work.settled();
    expect(events).toEqual(['executed true']);
    expect(await idem.run('k', () => 'again')).toEqual({ kind: 'replayed', value: 'charged' });
  });

  it('a completion whose first attempt landed although its answer never came is not reported as a lost lease', async () => {
    const store = testStore();
    const work = background();
    const hooks: IdempotencyHooks = { leaseLost: vi.fn(), executed: vi.fn() };
    const idem = createIdempotency({ store, storeTimeoutMs: 50, logger: false, hooks });
    // The first completion takes effect but its reply is lost, then the
    // retry finds the record completed: the result is kept, the lease was not lost.
    store.loseReplyNext('complete');
    await idem.run('k', () => 'v', { waitUntil: work.waitUntil });
    await work.settled();
    expect(hooks.leaseLost).not.toHaveBeenCalled();
    expect((await idem.run('k', () => 'w')).kind).toBe('replayed');
  });

  it('refuses a storeTimeoutMs that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '5000']) {
      expect(() =>
        createIdempotency({ store: testStore(), storeTimeoutMs: bad as number }),
      ).toThrow(/option "storeTimeoutMs" must be a positive, finite number of milliseconds/);
    }
  });
});

describe('a claim whose reply was lost does not block its key', () => {
  it('gives the token back in the background: the retry runs at once instead of getting 409 for a lease', async () => {
    const store = testStore();
    const work = background();
    const idem = createIdempotency({ store, logger: false });
    store.loseReplyNext('claim');
    let runs = 0;
    const first = await idem
      .run('k', () => ++runs, { waitUntil: work.waitUntil })
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(StoreUnavailableError);
    expect(runs).toBe(0);
    await work.settled();
    expect(store.records.size).toBe(0);
    expect(await idem.run('k', () => ++runs)).toEqual({ kind: 'executed', value: 1 });
  });

  it('gives back a claim that timed out and landed later', async () => {
    const store = testStore();
    const work = background();
    const late = gate();
    const slow = {
      ...store,
      claim: async (...args: Parameters<typeof store.claim>) => {
        await late.promise;
        return store.claim(...args);
      },
    };
    const idem = createIdempotency({ store: slow, storeTimeoutMs: 30, logger: false });
    await expect(idem.run('k', () => 1, { waitUntil: work.waitUntil })).rejects.toThrow(
      StoreUnavailableError,
    );
    late.open();
    await work.settled();
    expect(store.records.size).toBe(0);
    expect((await idem.run('k', () => 2)).kind).toBe('executed');
  });

  it('gives back a claim whose bytes land after its give-back answered "nothing here"', async () => {
    // The claim's connection fails at once (the engine answers 503 and gives
    // the token back), but the claim itself was still on its way, in a dead
    // connection's last segments or a proxy's buffer: it lands after the
    // give-back found nothing to release, as a partition test saw on Redis.
    const store = testStore();
    const work = background();
    let landed = 0;
    const late = {
      ...store,
      claim: (...args: Parameters<typeof store.claim>) => {
        const [, request] = args;
        if (request.token !== firstToken && firstToken !== undefined) return store.claim(...args);
        firstToken = request.token;
        setTimeout(() => {
          void store.claim(...args);
          landed = Date.now();
        }, 400);
        return Promise.reject(new Error('Socket closed unexpectedly'));
      },
    };
    let firstToken: string | undefined;
    const idem = createIdempotency({ store: late, leaseMs: 30_000, breaker: false, logger: false });
    await expect(idem.run('k', () => 1, { waitUntil: work.waitUntil })).rejects.toThrow(
      StoreUnavailableError,
    );
    // The give-back answered before the claim landed.
    await new Promise((r) => setTimeout(r, 450));
    expect(landed).toBeGreaterThan(0);
    // The client retries until it gets through; the key must not stay blocked for the lease.
    const started = Date.now();
    let outcome: unknown;
    while (Date.now() - started < 6_000) {
      outcome = await idem.run('k', () => 2).catch((e: unknown) => e);
      if (!(outcome instanceof RequestInFlightError)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(outcome).toEqual({ kind: 'executed', value: 2 });
    // Within the stated bound: the gap between two late checks.
    expect(Date.now() - landed).toBeLessThan(2_200);
    await work.settled();
  }, 15_000);

  it('keeps trying while the store is down, within the lease', async () => {
    const store = testStore();
    const work = background();
    const idem = createIdempotency({ store, leaseMs: 2_000, logger: false });
    store.loseReplyNext('claim');
    store.failNext('release', 2);
    await idem.run('k', () => 1, { waitUntil: work.waitUntil }).catch(() => {});
    await work.settled();
    expect(store.calls.release).toBe(3);
    expect(store.records.size).toBe(0);
  });

  it('leaves alone a claim the store refused (someone else holds the key)', async () => {
    const store = testStore();
    const work = background();
    const idem = createIdempotency({ store, storeTimeoutMs: 30, logger: false });
    const held = gate();
    const first = idem.run('k', () => held.promise);
    await vi.waitFor(() => expect(store.records.size).toBe(1));
    await expect(idem.run('k', () => 1, { waitUntil: work.waitUntil })).rejects.toThrow(
      RequestInFlightError,
    );
    await work.settled();
    expect(store.calls.release).toBe(0);
    held.open();
    await first;
  });
});

/** An operation whose writes a transactional store commits with its record. */
const paidInTransaction = (context: Claim) => {
  bindTransaction(context);
  return 'paid';
};

describe('transactional completion never reports a commit it could not confirm', () => {
  function transactionalStore() {
    const store = testStore();
    const commit = gate<'ok' | 'rolled back'>();
    const transactional = {
      ...store,
      async complete(...args: Parameters<typeof store.complete>) {
        const outcome = await commit.promise;
        if (outcome === 'rolled back') throw new RolledBackError(new Error('COMMIT failed'));
        return store.complete(...args);
      },
    };
    return { store, transactional, commit };
  }

  it('a commit that does not answer in time: "outcome unknown", then the replay once it committed', async () => {
    const { store, transactional, commit } = transactionalStore();
    const work = background();
    const idem = createIdempotency({ store: transactional, storeTimeoutMs: 50, logger: false });
    const error = await idem
      .run('k', paidInTransaction, { waitUntil: work.waitUntil })
      .catch((e: unknown) => e);
    expect(isIdempotencyError(error, 'STORE_UNAVAILABLE')).toBe(true);
    expect(error).toMatchObject({ operation: 'complete' });
    expect((error as Error).message).toMatch(/outcome is not known yet/);
    await expect(idem.run('k', () => 'again')).rejects.toThrow(RequestInFlightError);
    commit.open('ok');
    await work.settled();
    expect(await idem.run('k', () => 'again')).toEqual({ kind: 'replayed', value: 'paid' });
    expect(store.calls.release).toBe(0);
  });

  it('a commit that rolls back after the time limit frees the key: the retry runs once', async () => {
    const { store, transactional, commit } = transactionalStore();
    const work = background();
    const idem = createIdempotency({ store: transactional, storeTimeoutMs: 50, logger: false });
    await expect(
      idem.run('k', paidInTransaction, {
        waitUntil: work.waitUntil,
      }),
    ).rejects.toThrow(StoreUnavailableError);
    commit.open('rolled back');
    await work.settled();
    expect(store.records.size).toBe(0);
  });

  it("a result shouldStore does not keep: RolledBackError, not 'executed' (releasing the key rolled the writes back)", async () => {
    const { store, transactional, commit } = transactionalStore();
    commit.open('ok');
    const released: string[] = [];
    const finished: string[] = [];
    const idem = createIdempotency({
      store: transactional,
      logger: false,
      hooks: {
        released: ({ reason }) => void released.push(reason),
        finished: ({ outcome }) => void finished.push(outcome),
      },
    });
    let runs = 0;
    const operation = (context: Claim) => {
      runs++;
      return { paid: paidInTransaction(context), settled: runs > 1 };
    };
    const shouldStore = (value: { settled: boolean }) => value.settled;
    const error = await idem.run('k', operation, { shouldStore }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RolledBackError);
    expect(String((error as Error).cause)).toMatch(/shouldStore did not keep the result/);
    expect(store.records.size).toBe(0);
    expect(store.calls.complete).toBe(0);
    expect(released).toEqual(['rolled_back']);
    expect(finished).toEqual(['rolled_back']);
    // The key is free: the retry runs, and a result that is kept commits.
    expect(await idem.run('k', operation, { shouldStore })).toEqual({
      kind: 'executed',
      value: { paid: 'paid', settled: true },
    });
    expect(runs).toBe(2);
  });

  it('without bindTransaction, a result shouldStore does not keep resolves as executed, as before', async () => {
    const store = testStore();
    const idem = createIdempotency({ store, logger: false });
    expect(await idem.run('k', () => 'paid', { shouldStore: () => false })).toEqual({
      kind: 'executed',
      value: 'paid',
    });
    expect(store.records.size).toBe(0);
  });

  it('without bindTransaction, a slow completion lets the result through as before', async () => {
    const { transactional, commit } = transactionalStore();
    const work = background();
    const idem = createIdempotency({ store: transactional, storeTimeoutMs: 50, logger: false });
    expect(await idem.run('k', () => 'paid', { waitUntil: work.waitUntil })).toEqual({
      kind: 'executed',
      value: 'paid',
    });
    commit.open('ok');
    await work.settled();
  });
});

describe('store errors are never silent', () => {
  it('are logged by default: the first at once, the rest summarised once a minute', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const store = testStore();
    const { lines, logger } = recordingLogger();
    const idem = createIdempotency({ store, logger });
    store.failAlways('claim', new Error('ECONNREFUSED'));
    for (let i = 0; i < 5; i++) await idem.run(`k${i}`, () => 1).catch(() => {});
    expect(lines).toEqual([
      expect.stringMatching(/^error idem: the store failed during claim: ECONNREFUSED/),
      // The fifth failure in a row opens the breaker, which is said once.
      expect.stringMatching(
        /^error idem: breaker open after 5 failed claims in a row \(ECONNREFUSED\)/,
      ),
    ]);
    await vi.advanceTimersByTimeAsync(60_000);
    const summary = lines.filter((l) => l.includes('more store error'));
    expect(summary).toEqual([
      expect.stringMatching(/idem: \d+ more store error\(s\) in the last minute/),
    ]);
    const summarised = Number(/(\d+) more/.exec(summary[0]!)![1]);
    // 4 more claims, plus the background attempts to give their tokens back.
    expect(summarised).toBeGreaterThanOrEqual(4);
  });

  it('hooks.storeError replaces the default log; logger: false silences it', async () => {
    for (const options of [
      { hooks: { storeError: vi.fn() } },
      { logger: false as const },
    ] satisfies Array<Partial<IdempotencyOptions>>) {
      const store = testStore();
      const { lines, logger } = recordingLogger();
      const idem = createIdempotency({ store, logger, ...options });
      store.failNext('claim');
      await idem.run('k', () => 1).catch(() => {});
      expect(lines).toEqual([]);
    }
  });

  it('a store that is not set up is logged loudly once, with the fix, while callers get StoreUnavailableError', async () => {
    const store = testStore();
    const { lines, logger } = recordingLogger();
    const idem = createIdempotency({ store, logger, hooks: { storeError: () => {} } });
    const notSetUp = new ConfigurationError(
      'postgresStore: table "idem_records" does not exist: run `await store.migrate()` or apply schema.sql.',
      { cause: new Error('relation "idem_records" does not exist') },
    );
    store.failAlways('claim', notSetUp);
    for (let i = 0; i < 3; i++) {
      await expect(idem.run(`k${i}`, () => 1)).rejects.toThrow(StoreUnavailableError);
    }
    const loud = lines.filter((l) => l.includes('store is not set up'));
    expect(loud).toHaveLength(1);
    expect(loud[0]).toMatch(/run `await store.migrate\(\)` or apply schema.sql/);
  });
});

describe('configuration', () => {
  it('refuses option names it does not know, naming the ones it does', () => {
    const store = testStore();
    expect(() => createIdempotency({ store, leaseMS: 10 } as never)).toThrow(
      /idem: createIdempotency\(\): unknown option "leaseMS" \(did you mean "leaseMs"\?\); the options are .*leaseMs/,
    );
    expect(() => createIdempotency({ store, logger: {} as never })).toThrow(
      /option "logger" must be false \(silent\), or a logger with a warn\(message\) method/,
    );
    expect(() => createIdempotency({ store, hooks: 'x' as never })).toThrow(
      /option "hooks" must be an object of callbacks/,
    );
  });

  it('refuses a run() scope that is not a string', async () => {
    const idem = createIdempotency({ store: testStore() });
    await expect(idem.run('k', () => 1, { scope: 42 as never })).rejects.toThrow(
      ConfigurationError,
    );
  });
});

describe('errors are recognised by their code, whichever copy of core made them', () => {
  it('isIdempotencyError matches a branded error from another copy and refuses look-alikes', async () => {
    const foreign = Object.defineProperty(
      Object.assign(new Error('from another copy'), { code: 'ROLLED_BACK' }),
      Symbol.for('idem.error'),
      { value: true },
    );
    expect(isIdempotencyError(foreign, 'ROLLED_BACK')).toBe(true);
    expect(isIdempotencyError(foreign, 'STORE_UNAVAILABLE')).toBe(false);
    expect(isIdempotencyError(Object.assign(new Error('pg'), { code: 'ROLLED_BACK' }))).toBe(false);
    expect(isIdempotencyError(null)).toBe(false);
    expect(isIdempotencyError(new RolledBackError(undefined))).toBe(true);
  });

  it('a RolledBackError from another copy of core still releases the key and reaches the caller', async () => {
    const store = testStore();
    const foreign = Object.defineProperty(
      Object.assign(new Error('rolled back elsewhere'), { code: 'ROLLED_BACK' }),
      Symbol.for('idem.error'),
      { value: true },
    );
    store.failNext('complete', 1, foreign);
    const idem = createIdempotency({ store, logger: false });
    await expect(idem.run('k', () => 1)).rejects.toBe(foreign);
    expect(store.live(await scopedKey('', 'k')).state).toBe('absent');
    expect((await idem.run('k', () => 2)).kind).toBe('executed');
  });
});
