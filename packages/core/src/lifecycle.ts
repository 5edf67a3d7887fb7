import type { ClaimResult, OwnerResult, StoredRecord, StoredResponse } from './store/contract.js';

/**
 * The idempotency key lifecycle of docs/SEMANTICS.md (Lifecycle) as data: states, events and the
 * transition function, all pure. The memory store's rarer paths run on it (its
 * hot paths are written out and checked against it), and the conformance
 * suite uses it as the reference model every other store is checked against.
 *
 * ```
 *            claim                      complete(token)
 *  absent ──────────► in_progress ─────────────────────► completed
 *    ▲                  │    │                              │
 *    │ release(token)   │    │ lease runs out: next claim   │ expiry
 *    └──────────────────┘    └─────► in_progress (new token) ▼ absent
 * ```
 *
 * @packageDocumentation
 */

/** What a store holds for one key, including expired leftovers. */
export type RecordState =
  | { readonly state: 'absent' }
  | {
      readonly state: 'in_progress';
      readonly fingerprint: string;
      readonly token: string;
      readonly leaseExpiresAt: number;
    }
  | {
      readonly state: 'completed';
      readonly fingerprint: string;
      readonly expiresAt: number;
      readonly response: StoredResponse;
    };

/** Everything that can happen to a record. `now` is the store's clock in epoch ms. */
export type LifecycleEvent =
  | {
      readonly type: 'claim';
      readonly now: number;
      readonly fingerprint: string;
      readonly token: string;
      readonly leaseMs: number;
    }
  | {
      readonly type: 'complete';
      readonly now: number;
      readonly token: string;
      readonly response: StoredResponse;
      readonly ttlMs: number;
    }
  | { readonly type: 'release'; readonly now: number; readonly token: string }
  | {
      readonly type: 'renew';
      readonly now: number;
      readonly token: string;
      readonly leaseMs: number;
    };

/** What each event reports back to its caller. */
export interface LifecycleResults {
  claim: ClaimResult;
  complete: OwnerResult;
  release: OwnerResult;
  renew: OwnerResult;
}

/** A transition's outcome: the next state and the caller's result. */
export interface Transition<E extends LifecycleEvent['type']> {
  readonly next: RecordState;
  readonly result: LifecycleResults[E];
}

/** The absent state, shared. */
export const ABSENT: RecordState = Object.freeze({ state: 'absent' });

/**
 * The state as it must be observed at `now`: an in-progress record whose lease
 * ran out, or a completed record past its expiry, is absent (docs/SEMANTICS.md, Lifecycle).
 */
export function observe(record: RecordState, now: number): RecordState {
  if (record.state === 'in_progress' && now >= record.leaseExpiresAt) return ABSENT;
  if (record.state === 'completed' && now >= record.expiresAt) return ABSENT;
  return record;
}

/** The record `read` (and a refused `claim`) reports for a state, or `undefined` when absent. */
export function toRecord(record: RecordState): StoredRecord | undefined {
  switch (record.state) {
    case 'absent':
      return undefined;
    case 'in_progress':
      return {
        state: 'in_progress',
        fingerprint: record.fingerprint,
        leaseExpiresAt: record.leaseExpiresAt,
      };
    case 'completed':
      return {
        state: 'completed',
        fingerprint: record.fingerprint,
        expiresAt: record.expiresAt,
        response: record.response,
      };
  }
}

function owns(record: RecordState, token: string): boolean {
  return record.state === 'in_progress' && record.token === token;
}

const STALE = 'stale' as const;

/** The transition table: one pure function per event, applied to the observed (live) state. */
const transitions: {
  [E in LifecycleEvent['type']]: (
    live: RecordState,
    event: Extract<LifecycleEvent, { type: E }>,
  ) => Transition<E>;
} = {
  claim(live, e) {
    // The owner's own token: a client library resent this very claim after a
    // lost reply (tokens are fresh per claim). It owns the key; nothing changes.
    if (owns(live, e.token)) return { next: live, result: { claimed: true } };
    if (live.state !== 'absent') {
      return { next: live, result: { claimed: false, record: toRecord(live)! } };
    }
    return {
      next: {
        state: 'in_progress',
        fingerprint: e.fingerprint,
        token: e.token,
        leaseExpiresAt: e.now + e.leaseMs,
      },
      result: { claimed: true },
    };
  },
  complete(live, e) {
    if (!owns(live, e.token) || live.state !== 'in_progress') return { next: live, result: STALE };
    return {
      next: {
        state: 'completed',
        fingerprint: live.fingerprint,
        expiresAt: e.now + e.ttlMs,
        response: e.response,
      },
      result: 'ok',
    };
  },
  release(live, e) {
    if (!owns(live, e.token)) return { next: live, result: STALE };
    return { next: ABSENT, result: 'ok' };
  },
  renew(live, e) {
    if (!owns(live, e.token) || live.state !== 'in_progress') return { next: live, result: STALE };
    return { next: { ...live, leaseExpiresAt: e.now + e.leaseMs }, result: 'ok' };
  },
};

/**
 * Apply `event` to `record`. An expired record is observed as absent first,
 * so a stale owner can never act on a record whose lease ran out.
 */
export function transition<E extends LifecycleEvent>(
  record: RecordState,
  event: E,
): Transition<E['type']> {
  const live = observe(record, event.now);
  const apply = transitions[event.type] as (l: RecordState, e: E) => Transition<E['type']>;
  return apply(live, event);
}
