import { emit, type HookEvent } from '../hooks.js';
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
  readonly renewEvery: number;
  /** Renewals that succeeded so far. */
  renewals: number;
  /** Set once `leaseLost` was reported for it, so it is reported once. */
  lost: boolean;
  renewing: boolean;
}

/** Keeps the leases of running executions alive until they finish. */
export interface Renewal {
  /** Start renewing a lease of `leaseMs` claimed just now. */
  start(event: HookEvent, token: string, leaseMs: number): Lease;
  /** Stop renewing it; returns whether it was still being renewed. */
  stop(lease: Lease): boolean;
}

/**
 * One ticker renews every running execution's lease, instead of a timer per
 * execution: most operations end long before their first renewal is due, and
 * a timer created and cleared per request costs measurable throughput.
 */
export function leaseRenewal(options: ResolvedOptions, calls: StoreCalls): Renewal {
  const { store, hooks } = options;
  const every = (leaseMs: number) => Math.max(10, Math.floor(leaseMs / 3));
  const running = new Set<Lease>();
  let ticker: ReturnType<typeof setTimeout> | undefined;
  // The ticker's pace: the shortest renewal period among running leases
  // (requests may have leases of their own), back to the engine's when idle.
  let period = every(options.leaseMs);

  function tick(): void {
    ticker = undefined;
    const now = Date.now();
    for (const lease of running) {
      if (!lease.renewing && now - lease.renewedAt >= lease.renewEvery) void renew(lease, now);
    }
    schedule();
  }

  function schedule(): void {
    if (ticker !== undefined || running.size === 0) return;
    // Half the renewal period: a lease is renewed at most 1.5 periods (half a
    // lease) after its last renewal, long before it runs out.
    ticker = setTimeout(tick, Math.max(5, period >> 1));
    (ticker as { unref?: () => void }).unref?.();
  }

  async function renew(lease: Lease, sentAt: number): Promise<void> {
    lease.renewing = true;
    try {
      const { event, token, leaseMs } = lease;
      const result = await calls.call(event, 'renew', () =>
        store.renew(event.storeKey, token, leaseMs),
      );
      if (result === 'stale') {
        // Once the operation finished, a renewal that crossed its completion
        // is stale for a good reason: only a live operation lost its lease.
        if (running.delete(lease)) {
          lease.lost = true;
          emit(hooks, 'leaseLost', event);
        }
        return;
      }
      lease.renewedAt = sentAt;
      lease.deadline = sentAt + leaseMs;
      lease.renewals++;
    } catch {
      // Reported by `calls`; the next tick tries again while the lease holds.
    } finally {
      lease.renewing = false;
    }
  }

  return {
    start(event, token, leaseMs) {
      const now = Date.now();
      const lease: Lease = {
        event,
        token,
        renewedAt: now,
        deadline: now + leaseMs,
        leaseMs,
        renewEvery: every(leaseMs),
        renewals: 0,
        lost: false,
        renewing: false,
      };
      running.add(lease);
      if (lease.renewEvery < period) {
        period = lease.renewEvery;
        if (ticker !== undefined) {
          clearTimeout(ticker);
          ticker = undefined;
        }
      }
      schedule();
      return lease;
    },
    stop(lease) {
      const wasRunning = running.delete(lease);
      // The ticker stays armed (it is unref'd, so it keeps no process alive)
      // and lapses on its own: clearing and re-arming it for every request
      // that comes and goes costs more than a tick that finds nothing to do.
      if (running.size === 0) period = every(options.leaseMs);
      return wasRunning;
    },
  };
}
