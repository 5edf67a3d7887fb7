import { emit, type HookEvent } from '../hooks.js';
import type { Store } from '../store/contract.js';
import type { ResolvedOptions } from './options.js';
import type { StoreCalls } from './store-calls.js';

/** A running execution's lease, as the renewal ticker keeps it. */
export interface Lease {
  /** Names the record in hook events. */
  readonly event: HookEvent;
  readonly token: string;
  /** When the last successful renewal (or the claim) was sent. */
  renewedAt: number;
  /** When the lease runs out unless renewed again: the local view, extended by each renewal. */
  deadline: number;
  /** Its length, and how often it is renewed, in milliseconds. */
  readonly leaseMs: number;
  /** No renewal extends it past this time (`BeginInput.leaseUntil`); infinity for no limit. */
  readonly until: number;
  readonly renewEvery: number;
  /** When the next renewal is due: a third of a lease after the last one sent that succeeded. */
  dueAt: number;
  /** Renewals that succeeded so far. */
  renewals: number;
  /** Set once `leaseLost` was reported for it, so it is reported once. */
  lost: boolean;
  renewing: boolean;
}

/**
 * After a stale answer to its owner: whether another owner holds the key (a
 * live record, in flight or completed), or the record merely ran out with
 * nobody else on it. A read that fails cannot tell, and counts as held.
 */
export async function heldByAnother(
  calls: StoreCalls,
  store: Store,
  event: HookEvent,
): Promise<boolean> {
  try {
    return (await calls.call(event, 'read', () => store.read(event.storeKey))) !== undefined;
  } catch {
    return true;
  }
}

/**
 * A lease of `leaseMs` sent at `at`, cut to end by `until`: at least 1 ms,
 * so that a deadline already passed still claims (and frees the key at once
 * if the run is cut off) rather than failing a store's positive-lease rule.
 */
export function cappedLease(leaseMs: number, until: number, at: number): number {
  return until === Number.POSITIVE_INFINITY
    ? leaseMs
    : Math.max(1, Math.min(leaseMs, Math.floor(until - at)));
}

/** Keeps the leases of running executions alive until they finish. */
export interface Renewal {
  /**
   * Start renewing a lease of `leaseMs` claimed just now.
   * @param claimedAt When the claim was sent: the store's lease runs from
   *   then, not from its answer, so the first renewal is due a third of a
   *   lease after it. @default now
   * @param until No renewal extends the lease past this time, and renewing
   *   stops there. @default no limit
   */
  start(
    event: HookEvent,
    token: string,
    leaseMs: number,
    claimedAt?: number,
    until?: number,
  ): Lease;
  /** Stop renewing it; returns whether it was still being renewed. */
  stop(lease: Lease): boolean;
}

/**
 * One ticker renews every running execution's lease, instead of a timer per
 * execution: most operations end long before their first renewal is due, and
 * a timer created and cleared per request costs measurable throughput.
 *
 * Each lease is renewed a third of a lease after its last successful renewal
 * was sent (the ticker wakes when the earliest one is due), so the lease the
 * store holds, on the owner's clock, never has less than two thirds of a
 * lease left, less one renewal's round trip and the timer's lateness. Stores
 * that judge leases by the application's clock (DynamoDB) rely on that
 * margin to bound the clock skew they stand.
 */
export function leaseRenewal(options: ResolvedOptions, calls: StoreCalls): Renewal {
  const { store, hooks } = options;
  const every = (leaseMs: number) => Math.max(10, Math.floor(leaseMs / 3));
  const running = new Set<Lease>();
  let ticker: ReturnType<typeof setTimeout> | undefined;
  /** When the armed ticker fires. */
  let tickerAt = Number.POSITIVE_INFINITY;

  function tick(): void {
    ticker = undefined;
    tickerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (const lease of running) {
      if (!lease.renewing && now >= lease.dueAt) void renew(lease, now);
    }
    schedule();
  }

  /** Arm the ticker for the earliest renewal due, unless it fires by then already. */
  function schedule(): void {
    let due = Number.POSITIVE_INFINITY;
    for (const lease of running) if (!lease.renewing && lease.dueAt < due) due = lease.dueAt;
    arm(due);
  }

  function arm(due: number): void {
    if (due === Number.POSITIVE_INFINITY || due >= tickerAt) return;
    if (ticker !== undefined) clearTimeout(ticker);
    tickerAt = due;
    ticker = setTimeout(tick, Math.max(0, due - Date.now()));
    (ticker as { unref?: () => void }).unref?.();
  }

  async function renew(lease: Lease, sentAt: number): Promise<void> {
    lease.renewing = true;
    try {
      // At its hard deadline the lease is left to run out: the run may be cut off any moment.
      if (lease.until - sentAt < 1) {
        running.delete(lease);
        return;
      }
      const { event, token } = lease;
      const leaseMs = cappedLease(lease.leaseMs, lease.until, sentAt);
      const result = await calls.call(event, 'renew', () =>
        store.renew(event.storeKey, token, leaseMs),
      );
      if (result === 'stale') {
        // Once the operation finished, a renewal that crossed its completion
        // is stale for a good reason: only a live operation lost its lease.
        // A record that merely ran out (renewals that did not land), with
        // nobody else on the key, is no lost lease: the completion will find
        // the same and report it as failed.
        if (running.delete(lease) && !lease.lost && (await heldByAnother(calls, store, event))) {
          lease.lost = true;
          emit(hooks, 'leaseLost', event);
        }
        return;
      }
      lease.renewedAt = sentAt;
      lease.deadline = sentAt + leaseMs;
      lease.dueAt = sentAt + lease.renewEvery;
      lease.renewals++;
    } catch {
      // Reported by `calls`; try again after a sixth of the period while the lease holds.
      lease.dueAt = Date.now() + Math.max(5, Math.floor(lease.renewEvery / 6));
    } finally {
      lease.renewing = false;
      if (running.has(lease)) arm(lease.dueAt);
    }
  }

  return {
    start(event, token, leaseMs, claimedAt, until = Number.POSITIVE_INFINITY) {
      const now = Date.now();
      const lease: Lease = {
        event,
        token,
        renewedAt: now,
        deadline: now + cappedLease(leaseMs, until, now),
        leaseMs,
        until,
        renewEvery: every(leaseMs),
        dueAt: Math.min(now, claimedAt ?? now) + every(leaseMs),
        renewals: 0,
        lost: false,
        renewing: false,
      };
      running.add(lease);
      // Re-armed only when this lease is due before the ticker fires (a
      // shorter lease than the others'): leases of one length started in
      // turn are due in turn, so a request costs no timer of its own.
      arm(lease.dueAt);
      return lease;
    },
    stop(lease) {
      // The ticker stays armed (it is unref'd, so it keeps no process alive)
      // and lapses on its own: clearing and re-arming it for every request
      // that comes and goes costs more than a tick that finds nothing to do.
      return running.delete(lease);
    },
  };
}
