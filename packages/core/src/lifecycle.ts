import type { ClaimResult, OwnerResult, StoredRecord, StoredResponse } from './store.js';

/**
 * The idempotency key lifecycle of SPEC §2 as data: states, events and the
 * transition function, all pure. The memory store runs on it directly and the
 * conformance suite uses it as the reference model every other store is checked against.
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
  | { readonly kind: 'absent' }
  | {
      readonly kind: 'in_progress';
      readonly fingerprint: string;
      readonly token: string;
      readonly leaseExpiresAt: number;
    }
  | {
      readonly kind: 'completed';
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
  readonly state: RecordState;
  readonly result: LifecycleResults[E];
}

/** The absent state, shared. */
export const ABSENT: RecordState = Object.freeze({ kind: 'absent' });

/**
 * The state as it must be observed at `now`: an in-progress record whose lease
 * ran out, or a completed record past its expiry, is absent (SPEC §2).
 */
export function observe(state: RecordState, now: number): RecordState {
  if (state.kind === 'in_progress' && now >= state.leaseExpiresAt) return ABSENT;
  if (state.kind === 'completed' && now >= state.expiresAt) return ABSENT;
  return state;
}

/** The record `read` (and a refused `claim`) reports for a state, or `undefined` when absent. */
export function toRecord(state: RecordState): StoredRecord | undefined {
  switch (state.kind) {
    case 'absent':
      return undefined;
    case 'in_progress':
      return {
        state: 'in_progress',
        fingerprint: state.fingerprint,
        leaseExpiresAt: state.leaseExpiresAt,
      };
    case 'completed':
      return {
        state: 'completed',
        fingerprint: state.fingerprint,
        expiresAt: state.expiresAt,
        response: state.response,
      };
  }
}

function owns(state: RecordState, token: string): boolean {
  return state.kind === 'in_progress' && state.token === token;
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
    if (owns(live, e.token)) return { state: live, result: { claimed: true } };
    if (live.kind !== 'absent') {
      return { state: live, result: { claimed: false, record: toRecord(live)! } };
    }
    return {
      state: {
        kind: 'in_progress',
        fingerprint: e.fingerprint,
        token: e.token,
        leaseExpiresAt: e.now + e.leaseMs,
      },
      result: { claimed: true },
    };
  },
  complete(live, e) {
    if (!owns(live, e.token) || live.kind !== 'in_progress') return { state: live, result: STALE };
    return {
      state: {
        kind: 'completed',
        fingerprint: live.fingerprint,
        expiresAt: e.now + e.ttlMs,
        response: e.response,
      },
      result: 'ok',
    };
  },
  release(live, e) {
    if (!owns(live, e.token)) return { state: live, result: STALE };
    return { state: ABSENT, result: 'ok' };
  },
  renew(live, e) {
    if (!owns(live, e.token) || live.kind !== 'in_progress') return { state: live, result: STALE };
    return { state: { ...live, leaseExpiresAt: e.now + e.leaseMs }, result: 'ok' };
  },
};

/**
 * Apply `event` to `state`. Expired state is observed as absent first, so a
 * stale owner can never act on a record whose lease ran out.
 */
export function transition<E extends LifecycleEvent>(
  state: RecordState,
  event: E,
): Transition<E['type']> {
  const live = observe(state, event.now);
  const apply = transitions[event.type] as (l: RecordState, e: E) => Transition<E['type']>;
  return apply(live, event);
}
