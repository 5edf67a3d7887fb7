import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../test/fc.js';
import {
  ABSENT,
  type LifecycleEvent,
  observe,
  type RecordState,
  toRecord,
  transition,
} from './lifecycle.js';
import type { StoredResponse } from './store/contract.js';

const LEASE_END = 1_000;
const EXPIRY = 5_000;
const LEASE_MS = 300;
const TTL_MS = 10_000;
const OWNER = 'owner-token';
const OTHER = 'other-token';
const NEW = 'new-token';

const stored: StoredResponse = { status: 201, headers: [['x-a', '1']], body: new Uint8Array([1]) };
const result: StoredResponse = { status: 200, headers: [], body: new Uint8Array([2, 3]) };

const inProgress: RecordState = Object.freeze({
  state: 'in_progress',
  fingerprint: 'fp',
  token: OWNER,
  leaseExpiresAt: LEASE_END,
});
const completed: RecordState = Object.freeze({
  state: 'completed',
  fingerprint: 'fp',
  expiresAt: EXPIRY,
  response: stored,
});

/** The five states of the brief, each with the instant it is looked at. */
const states = {
  absent: { state: ABSENT, now: 500 },
  'in_progress (live)': { state: inProgress, now: 500 },
  'in_progress (lease expired)': { state: inProgress, now: 1_500 },
  'completed (live)': { state: completed, now: 500 },
  'completed (expired)': { state: completed, now: 6_000 },
} as const;
type StateName = keyof typeof states;

type EventName =
  | 'claim'
  | 'complete(owner)'
  | 'complete(other)'
  | 'release(owner)'
  | 'release(other)'
  | 'renew(owner)'
  | 'renew(other)';

function event(name: EventName, now: number): LifecycleEvent {
  switch (name) {
    case 'claim':
      return { type: 'claim', now, fingerprint: 'fp2', token: NEW, leaseMs: LEASE_MS };
    case 'complete(owner)':
      return { type: 'complete', now, token: OWNER, response: result, ttlMs: TTL_MS };
    case 'complete(other)':
      return { type: 'complete', now, token: OTHER, response: result, ttlMs: TTL_MS };
    case 'release(owner)':
      return { type: 'release', now, token: OWNER };
    case 'release(other)':
      return { type: 'release', now, token: OTHER };
    case 'renew(owner)':
      return { type: 'renew', now, token: OWNER, leaseMs: LEASE_MS };
    case 'renew(other)':
      return { type: 'renew', now, token: OTHER, leaseMs: LEASE_MS };
  }
}

const claimed = (now: number): RecordState => ({
  state: 'in_progress',
  fingerprint: 'fp2',
  token: NEW,
  leaseExpiresAt: now + LEASE_MS,
});

/** Expected (next state, result) for every (state, event) pair: the whole table, spelled out. */
const table: Record<StateName, Record<EventName, (now: number) => [RecordState, unknown]>> = {
  absent: {
    claim: (now) => [claimed(now), { claimed: true }],
    'complete(owner)': () => [ABSENT, 'stale'],
    'complete(other)': () => [ABSENT, 'stale'],
    'release(owner)': () => [ABSENT, 'stale'],
    'release(other)': () => [ABSENT, 'stale'],
    'renew(owner)': () => [ABSENT, 'stale'],
    'renew(other)': () => [ABSENT, 'stale'],
  },
  'in_progress (live)': {
    claim: () => [
      inProgress,
      {
        claimed: false,
        record: { state: 'in_progress', fingerprint: 'fp', leaseExpiresAt: LEASE_END },
      },
    ],
    'complete(owner)': (now) => [
      { state: 'completed', fingerprint: 'fp', expiresAt: now + TTL_MS, response: result },
      'ok',
    ],
    'complete(other)': () => [inProgress, 'stale'],
    'release(owner)': () => [ABSENT, 'ok'],
    'release(other)': () => [inProgress, 'stale'],
    'renew(owner)': (now) => [{ ...inProgress, leaseExpiresAt: now + LEASE_MS }, 'ok'],
    'renew(other)': () => [inProgress, 'stale'],
  },
  'in_progress (lease expired)': {
    claim: (now) => [claimed(now), { claimed: true }],
    'complete(owner)': () => [ABSENT, 'stale'],
    'complete(other)': () => [ABSENT, 'stale'],
    'release(owner)': () => [ABSENT, 'stale'],
    'release(other)': () => [ABSENT, 'stale'],
    'renew(owner)': () => [ABSENT, 'stale'],
    'renew(other)': () => [ABSENT, 'stale'],
  },
  'completed (live)': {
    claim: () => [
      completed,
      {
        claimed: false,
        record: { state: 'completed', fingerprint: 'fp', expiresAt: EXPIRY, response: stored },
      },
    ],
    'complete(owner)': () => [completed, 'stale'],
    'complete(other)': () => [completed, 'stale'],
    'release(owner)': () => [completed, 'stale'],
    'release(other)': () => [completed, 'stale'],
    'renew(owner)': () => [completed, 'stale'],
    'renew(other)': () => [completed, 'stale'],
  },
  'completed (expired)': {
    claim: (now) => [claimed(now), { claimed: true }],
    'complete(owner)': () => [ABSENT, 'stale'],
    'complete(other)': () => [ABSENT, 'stale'],
    'release(owner)': () => [ABSENT, 'stale'],
    'release(other)': () => [ABSENT, 'stale'],
    'renew(owner)': () => [ABSENT, 'stale'],
    'renew(other)': () => [ABSENT, 'stale'],
  },
};

const cases = Object.entries(table).flatMap(([stateName, row]) =>
  Object.entries(row).map(([eventName, expected]) => ({
    stateName: stateName as StateName,
    eventName: eventName as EventName,
    expected,
  })),
);

describe('lifecycle transition table', () => {
  it('covers 5 states x 7 events', () => {
    expect(cases).toHaveLength(35);
  });

  it.each(cases)('$stateName + $eventName', ({ stateName, eventName, expected }) => {
    const { state, now } = states[stateName];
    const [nextState, nextResult] = expected(now);
    const out = transition(state, event(eventName, now));
    expect(out.next).toEqual(nextState);
    expect(out.result).toEqual(nextResult);
  });

  it('never mutates the state it is given', () => {
    // The fixtures are frozen: a mutation would throw in strict mode.
    for (const { stateName, eventName } of cases) {
      const { state, now } = states[stateName];
      expect(() => transition(state, event(eventName, now))).not.toThrow();
    }
    expect(inProgress).toMatchObject({ token: OWNER, leaseExpiresAt: LEASE_END });
  });
});

describe('lifecycle boundaries: the deadline instant is already expired', () => {
  it('in_progress: now == leaseExpiresAt lets a new claim take over', () => {
    expect(transition(inProgress, event('claim', LEASE_END))).toEqual({
      next: claimed(LEASE_END),
      result: { claimed: true },
    });
    expect(transition(inProgress, event('claim', LEASE_END - 1)).result).toMatchObject({
      claimed: false,
    });
  });

  it('in_progress: the owner is stale at now == leaseExpiresAt, live one ms before', () => {
    for (const name of ['complete(owner)', 'release(owner)', 'renew(owner)'] as const) {
      expect(transition(inProgress, event(name, LEASE_END))).toEqual({
        next: ABSENT,
        result: 'stale',
      });
      expect(transition(inProgress, event(name, LEASE_END - 1)).result).toBe('ok');
    }
  });

  it('completed: now == expiresAt is absent, one ms before is live', () => {
    expect(observe(completed, EXPIRY)).toBe(ABSENT);
    expect(observe(completed, EXPIRY - 1)).toBe(completed);
    expect(observe(inProgress, LEASE_END)).toBe(ABSENT);
    expect(observe(inProgress, LEASE_END - 1)).toBe(inProgress);
    expect(transition(completed, event('claim', EXPIRY)).result).toEqual({ claimed: true });
    expect(transition(completed, event('claim', EXPIRY - 1)).result).toMatchObject({
      claimed: false,
    });
  });

  it('renew extends from now, not from the old deadline', () => {
    const out = transition(inProgress, event('renew(owner)', 900));
    expect(out.next).toEqual({ ...inProgress, leaseExpiresAt: 900 + LEASE_MS });
  });

  it('completion starts the TTL from the completion instant', () => {
    const out = transition(inProgress, event('complete(owner)', 999));
    expect(out.next).toMatchObject({ state: 'completed', expiresAt: 999 + TTL_MS });
  });

  it('toRecord reports live states without the owner token', () => {
    expect(toRecord(ABSENT)).toBeUndefined();
    expect(toRecord(inProgress)).toEqual({
      state: 'in_progress',
      fingerprint: 'fp',
      leaseExpiresAt: LEASE_END,
    });
    expect(JSON.stringify(toRecord(inProgress))).not.toContain(OWNER);
    expect(toRecord(completed)).toEqual({
      state: 'completed',
      fingerprint: 'fp',
      expiresAt: EXPIRY,
      response: stored,
    });
  });
});

describe('lifecycle properties', () => {
  type Step =
    | { op: 'claim'; dt: number; leaseMs: number }
    | { op: 'complete' | 'release' | 'renew'; dt: number; tokenIndex: number; ttlMs: number };

  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      op: fc.constant('claim' as const),
      dt: fc.nat(40),
      leaseMs: fc.integer({ min: 1, max: 50 }),
    }),
    fc.record({
      op: fc.constantFrom('complete' as const, 'release' as const, 'renew' as const),
      dt: fc.nat(40),
      tokenIndex: fc.nat(20),
      ttlMs: fc.integer({ min: 1, max: 200 }),
    }),
  );

  it('only the current owner changes state; a stale completion never overwrites a newer result', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let state: RecordState = ABSENT;
        let now = 0;
        const tokens: string[] = [];
        let response = 0;
        for (const s of steps) {
          now += s.dt;
          const live = observe(state, now);
          if (s.op === 'claim') {
            const token = `t${tokens.length}`;
            tokens.push(token);
            const out = transition(state, {
              type: 'claim',
              now,
              fingerprint: 'fp',
              token,
              leaseMs: s.leaseMs,
            });
            if (live.state === 'absent') {
              expect(out.result).toEqual({ claimed: true });
              expect(out.next).toEqual({
                state: 'in_progress',
                fingerprint: 'fp',
                token,
                leaseExpiresAt: now + s.leaseMs,
              });
            } else {
              // A refused claim changes nothing and reports the live record.
              expect(out.result).toEqual({ claimed: false, record: toRecord(live) });
              expect(out.next).toBe(live);
            }
            state = out.next;
            continue;
          }
          // Owner operations use any token ever minted, or one never minted.
          const token = tokens[s.tokenIndex] ?? `never-${s.tokenIndex}`;
          const isOwner = live.state === 'in_progress' && live.token === token;
          const body = new Uint8Array([response++ & 0xff]);
          const ev: LifecycleEvent =
            s.op === 'complete'
              ? {
                  type: 'complete',
                  now,
                  token,
                  ttlMs: s.ttlMs,
                  response: { status: 200, headers: [], body },
                }
              : s.op === 'renew'
                ? { type: 'renew', now, token, leaseMs: s.ttlMs }
                : { type: 'release', now, token };
          const out = transition(state, ev);
          if (!isOwner) {
            expect(out.result).toBe('stale');
            // Nothing changes but the observation of expiry.
            expect(out.next).toBe(live);
          } else {
            expect(out.result).toBe('ok');
          }
          if (live.state === 'completed') {
            // A completed result is only replaced by expiry and a new claim.
            expect(out.next).toBe(live);
          }
          state = out.next;
        }
      }),
      fcOptions(500),
    );
  });

  it('observe is idempotent and monotone: once absent, later instants stay absent', () => {
    const stateArb: fc.Arbitrary<RecordState> = fc.oneof(
      fc.constant(ABSENT),
      fc.nat(1_000).map(
        (t): RecordState => ({
          state: 'in_progress',
          fingerprint: 'f',
          token: 't',
          leaseExpiresAt: t,
        }),
      ),
      fc.nat(1_000).map(
        (t): RecordState => ({
          state: 'completed',
          fingerprint: 'f',
          expiresAt: t,
          response: result,
        }),
      ),
    );
    fc.assert(
      fc.property(stateArb, fc.nat(1_000), fc.nat(1_000), (state, a, b) => {
        const [early, late] = a <= b ? [a, b] : [b, a];
        expect(observe(observe(state, early), early)).toBe(observe(state, early));
        if (observe(state, early) === ABSENT) expect(observe(state, late)).toBe(ABSENT);
      }),
      fcOptions(200),
    );
  });
});
