import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fcOptions } from '../../test/fc.js';
import { gate, testStore } from '../../test/store.js';
import { utf8 } from '../bytes.js';
import {
  ConfigurationError,
  ResponseTooLargeError,
  RolledBackError,
  StoreUnavailableError,
} from '../errors.js';
import type { FinishedOutcome } from '../hooks.js';
import { createHttpIdempotency } from '../http/handler.js';
import { scopedKey } from '../scope.js';
import { breaker as makeBreaker } from './breaker.js';
import type { IdempotencyOptions } from './options.js';
import { createIdempotency } from './run.js';

afterEach(() => {
  vi.useRealTimers();
});

const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

describe('the breaker as a state machine', () => {
  /** One step of a run: time passes, a claim is tried, or another store call answers or fails. */
  type Step =
    | { readonly kind: 'wait'; readonly ms: number }
    | {
        readonly kind: 'claim';
        readonly outcome: 'answer' | 'fail' | 'timeout';
        readonly tookMs: number;
      }
    | { readonly kind: 'other'; readonly ok: boolean };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
    fc.record({
      kind: fc.constant('claim' as const),
      outcome: fc.constantFrom('answer' as const, 'fail' as const, 'timeout' as const),
      tookMs: fc.integer({ min: 0, max: 50 }),
    }),
    fc.record({ kind: fc.constant('other' as const), ok: fc.boolean() }),
  );
  const limits = fc.record({
    failures: fc.integer({ min: 1, max: 6 }),
    probeEveryMs: fc.integer({ min: 1, max: 2_000 }),
  });
  const TIMEOUT_MS = 500;

  it('opens after `failures` failed claims in a row, refuses all but one probe per interval, and closes on any answer', () => {
    fc.assert(
      fc.property(limits, fc.array(step, { maxLength: 120 }), (limit, steps) => {
        const breaker = makeBreaker({
          ...limit,
          probeLostAfterMs: TIMEOUT_MS + limit.probeEveryMs,
        });
        let now = 1_000_000;
        // The model: failures in a row since the last answer; when the next probe may go.
        let inARow = 0;
        let open = false;
        let nextProbeAt = 0;
        for (const s of steps) {
          if (s.kind === 'wait') {
            now += s.ms;
            continue;
          }
          if (s.kind === 'other') {
            // Calls the breaker never refuses (completions, renewals): only their answers count.
            const change = s.ok ? breaker.answered() : undefined;
            if (s.ok) {
              expect(change).toBe(open ? 'closed' : undefined);
              inARow = 0;
              open = false;
            }
            expect(breaker.state.open).toBe(open);
            continue;
          }
          const admission = breaker.admit(now);
          if (!open) expect(admission).toBe('pass');
          else if (now < nextProbeAt) expect(admission).toBe('refuse');
          // Probes are sent and settled one at a time here, so one is due whenever the interval passed.
          else expect(admission).toBe('probe');
          if (admission === 'refuse') {
            expect(breaker.retryAfterSeconds(now)).toBe(
              Math.max(1, Math.ceil((nextProbeAt - now) / 1000)),
            );
            continue;
          }
          // A second claim while the probe is out is refused, whatever the time.
          if (admission === 'probe') expect(breaker.admit(now + limit.probeEveryMs)).toBe('refuse');
          now += s.outcome === 'timeout' ? TIMEOUT_MS : s.tookMs;
          const ok = s.outcome === 'answer';
          const change = ok ? breaker.answered() : breaker.failed(now);
          if (admission === 'probe') breaker.probed(ok, now);
          if (ok) {
            expect(change).toBe(open ? 'closed' : undefined);
            inARow = 0;
            open = false;
          } else {
            inARow++;
            const opens: boolean = !open && inARow >= limit.failures;
            expect(change).toBe(opens ? 'opened' : undefined);
            if (opens || admission === 'probe') nextProbeAt = now + limit.probeEveryMs;
            open ||= opens;
          }
          expect(breaker.state).toMatchObject({ open, failures: inARow, probing: false });
        }
      }),
      fcOptions(300),
    );
  });

  it('a probe whose outcome never comes does not keep it open: the next goes after probeLostAfterMs', () => {
    const breaker = makeBreaker({ failures: 1, probeEveryMs: 100, probeLostAfterMs: 600 });
    expect(breaker.failed(0)).toBe('opened');
    expect(breaker.admit(100)).toBe('probe');
    expect(breaker.admit(699)).toBe('refuse');
    expect(breaker.admit(700)).toBe('probe');
  });
});

/** A store that stopped answering (every call hangs), and an engine over it. */
function hungStore(options: Partial<IdempotencyOptions> = {}) {
  const store = testStore();
  const events: string[] = [];
  const finished: FinishedOutcome[] = [];
  const idem = createIdempotency({
    store,
    storeTimeoutMs: 100,
    logger: false,
    breaker: { failures: 3, probeEveryMs: 1_000 },
    hooks: {
      breakerOpened: ({ failures }) => void events.push(`opened after ${failures}`),
      breakerClosed: ({ refused }) => void events.push(`closed, ${refused} refused`),
      finished: ({ outcome }) => void finished.push(outcome),
    },
    ...options,
  });
  return { store, idem, events, finished };
}

describe('a store that stopped answering', () => {
  it('opens the breaker after `failures` timeouts: the next claims answer at once, without a store call, with Retry-After', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { store, idem, events, finished } = hungStore();
    store.hangNext('claim', Number.POSITIVE_INFINITY);
    const runs = vi.fn(() => 'paid');
    const first = Array.from({ length: 3 }, (_, i) => settle(idem.run(`k${i}`, runs)));
    await vi.advanceTimersByTimeAsync(101);
    for (const { error } of (await Promise.all(first)) as Array<{ error: unknown }>) {
      expect(error).toBeInstanceOf(StoreUnavailableError);
    }
    expect(events).toEqual(['opened after 3']);
    const claimsSent = store.calls.claim;
    const startedAt = Date.now();
    for (let i = 0; i < 50; i++) {
      const error = await idem.run(`later${i}`, runs).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ operation: 'claim', retryAfterSeconds: 1 });
    }
    // Answered at once (no time passed on the fake clock), and the store was not asked.
    expect(Date.now() - startedAt).toBe(0);
    expect(store.calls.claim).toBe(claimsSent);
    expect(runs).not.toHaveBeenCalled();
    expect(finished.filter((o) => o === 'store_unavailable')).toHaveLength(53);
  });

  it('lets one claim at a time through as a probe every probeEveryMs; its answer closes the breaker', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { store, idem, events } = hungStore();
    store.hangNext('claim', 3);
    const first = Array.from({ length: 3 }, (_, i) => settle(idem.run(`k${i}`, () => 1)));
    await vi.advanceTimersByTimeAsync(101);
    await Promise.all(first);
    expect(events).toEqual(['opened after 3']);
    // Still down: the first claim after the interval is the probe, and it hangs.
    store.hangNext('claim', 1);
    await vi.advanceTimersByTimeAsync(1_000);
    const probe = settle(idem.run('probe', () => 1));
    const during = await Promise.all(
      Array.from({ length: 20 }, (_, i) => settle(idem.run(`d${i}`, () => 1))),
    );
    expect(during.every((r) => !r.ok && r.error instanceof StoreUnavailableError)).toBe(true);
    expect(store.calls.claim).toBe(4);
    await vi.advanceTimersByTimeAsync(101);
    expect((await probe).ok).toBe(false);
    // A failed probe: the next one waits a whole interval.
    await vi.advanceTimersByTimeAsync(900);
    await expect(idem.run('early', () => 1)).rejects.toThrow(StoreUnavailableError);
    expect(store.calls.claim).toBe(4);
    // The store is back: the next probe answers and closes the breaker at once.
    await vi.advanceTimersByTimeAsync(200);
    expect(await idem.run('back', () => 'paid')).toEqual({ kind: 'executed', value: 'paid' });
    expect(events).toEqual(['opened after 3', 'closed, 21 refused']);
    expect(await idem.run('after', () => 'paid')).toEqual({ kind: 'executed', value: 'paid' });
  });

  it('never drops the completion of an operation that already ran: it lands when the store returns, and a retry replays', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { store, idem, events } = hungStore({ leaseMs: 30_000 });
    const background: Promise<unknown>[] = [];
    const running = gate();
    const finish = gate();
    const runs = vi.fn(async () => {
      running.open();
      await finish.promise;
      return 'paid';
    });
    const first = idem.run('pay', runs, { waitUntil: (p) => background.push(p) });
    await running.promise;
    // The store goes down while the payment runs; other claims open the breaker.
    for (const operation of ['claim', 'complete', 'release', 'renew', 'read'] as const) {
      store.failAlways(operation, new Error('ECONNRESET'));
    }
    await Promise.all(Array.from({ length: 3 }, (_, i) => settle(idem.run(`k${i}`, () => 1))));
    expect(events).toEqual(['opened after 3']);
    finish.open();
    expect(await first).toEqual({ kind: 'executed', value: 'paid' });
    await vi.advanceTimersByTimeAsync(3_000);
    const attemptsWhileOpen = store.calls.complete;
    expect(attemptsWhileOpen).toBeGreaterThan(1);
    expect(events).toEqual(['opened after 3']);
    // A retry while the store is down (here the probe, which fails) runs nothing.
    await expect(idem.run('pay', runs)).rejects.toThrow(StoreUnavailableError);
    store.heal();
    await vi.advanceTimersByTimeAsync(5_000);
    await Promise.all(background);
    expect(store.live(await scopedKey('', 'pay')).state).toBe('completed');
    // The completion's answer closed the breaker before any probe needed to.
    expect(events).toEqual(['opened after 3', 'closed, 0 refused']);
    expect(await idem.run('pay', runs)).toEqual({ kind: 'replayed', value: 'paid' });
    expect(runs).toHaveBeenCalledTimes(1);
  });

  it('with failOpen, a claim the breaker refuses runs unprotected, as for any store failure', async () => {
    const { store, idem } = hungStore({ failOpen: true });
    store.failAlways('claim');
    for (let i = 0; i < 3; i++) await idem.run(`k${i}`, () => 1);
    const claims = store.calls.claim;
    expect(await idem.run('open', () => 'ran')).toEqual({ kind: 'executed', value: 'ran' });
    expect(store.calls.claim).toBe(claims);
  });

  it('breaker: false keeps asking the store on every claim', async () => {
    const { store, idem, events } = hungStore({ breaker: false });
    store.failAlways('claim');
    for (let i = 0; i < 10; i++) await idem.run(`k${i}`, () => 1).catch(() => {});
    expect(store.calls.claim).toBe(10);
    expect(events).toEqual([]);
  });
});

describe('what counts as a failure', () => {
  it('a store that is not set up (ConfigurationError) opens it', async () => {
    const { store, idem, events } = hungStore();
    store.failAlways('claim', new ConfigurationError('myStore: table "idem" does not exist.'));
    for (let i = 0; i < 5; i++) await idem.run(`k${i}`, () => 1).catch(() => {});
    expect(events).toEqual(['opened after 3']);
    expect(store.calls.claim).toBe(3);
  });

  it('answers that are not failures (too large, rolled back, stale) neither open it nor count', async () => {
    const { store, idem, events } = hungStore();
    // Each failed claim is followed by an answer of another kind, which resets the count.
    const answers = [
      () => store.failNext('complete', 1, new ResponseTooLargeError(10, 5)),
      () => store.failNext('complete', 1, new RolledBackError(undefined)),
      () => {},
    ];
    for (let round = 0; round < 6; round++) {
      store.failNext('claim', 2);
      await idem.run(`f${round}a`, () => 1).catch(() => {});
      await idem.run(`f${round}b`, () => 1).catch(() => {});
      answers[round % answers.length]!();
      await idem.run(`ok${round}`, () => 1).catch(() => {});
    }
    expect(events).toEqual([]);
    // Failures of renewals or completions alone do not open it: it refuses claims, which work.
    store.failAlways('complete');
    store.failAlways('renew');
    for (let i = 0; i < 6; i++) await idem.run(`c${i}`, () => 1).catch(() => {});
    expect(events).toEqual([]);
  });
});

describe('the breaker over HTTP', () => {
  it('answers 503 store-unavailable with Retry-After until the next probe, at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const store = testStore();
    const http = createHttpIdempotency<Record<string, never>>({
      store,
      scope: () => 't',
      logger: false,
      breaker: { failures: 2, probeEveryMs: 2_500 },
    });
    store.failAlways('claim');
    const send = (key: string) =>
      http.handle(
        {
          method: 'POST',
          path: '/payments',
          query: '',
          header: (name) => (name === 'idempotency-key' ? key : null),
          body: () => utf8('{}'),
        },
        {},
      );
    await send('a');
    await send('b');
    const claims = store.calls.claim;
    const decision = await send('c');
    expect(store.calls.claim).toBe(claims);
    expect(decision.kind).toBe('respond');
    const { response } = decision as Extract<typeof decision, { kind: 'respond' }>;
    expect(response.status).toBe(503);
    expect(response.headers).toContainEqual(['retry-after', '3']);
    expect(JSON.parse(new TextDecoder().decode(response.body as Uint8Array))).toMatchObject({
      type: 'urn:idem:problem:store-unavailable',
      status: 503,
    });
    await vi.advanceTimersByTimeAsync(1_600);
    const later = (await send('d')) as Extract<typeof decision, { kind: 'respond' }>;
    expect(later.response.headers).toContainEqual(['retry-after', '1']);
  });
});

describe('the breaker option', () => {
  it.each([
    [
      'an unknown name',
      { failure: 3 },
      /idem: createIdempotency\(\): unknown option "breaker.failure" \(did you mean "breaker.failures"\?\); the options are breaker.failures, breaker.probeEveryMs/,
    ],
    [
      'a non-object',
      true,
      /option "breaker" must be false, or an object of limits such as \{ failures: 5/,
    ],
    [
      'zero failures',
      { failures: 0 },
      /option "breaker.failures" must be a whole number of claims, 1 or more, got 0/,
    ],
    ['fractional failures', { failures: 2.5 }, /option "breaker.failures" must be a whole number/],
    [
      'a negative interval',
      { probeEveryMs: -1 },
      /option "breaker.probeEveryMs" must be a positive, finite number of milliseconds/,
    ],
    ['an infinite interval', { probeEveryMs: Number.POSITIVE_INFINITY }, /breaker.probeEveryMs/],
  ])('refuses %s with a ConfigurationError that names the fix', (_name, breaker, message) => {
    expect(() => createIdempotency({ store: testStore(), breaker: breaker as never })).toThrow(
      message,
    );
  });

  it('is on by default: 5 failed claims, then a probe every second', async () => {
    const store = testStore();
    const idem = createIdempotency({ store, logger: false });
    store.failAlways('claim');
    for (let i = 0; i < 8; i++) await idem.run(`k${i}`, () => 1).catch(() => {});
    expect(store.calls.claim).toBe(5);
  });
});
