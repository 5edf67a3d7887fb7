import { emit } from '../hooks.js';
import type { ResolvedOptions } from './options.js';
import { invoke, type StoreCalls } from './store-calls.js';

/** A running execution's lease, as the renewal ticker keeps it. */
export interface Lease {
  readonly storeKey: string;
  readonly token: string;
  /** When the last successful renewal (or the claim) was sent. */
  renewedAt: number;
  /** When the lease runs out unless renewed again: the local view, extended by each renewal. */
  deadline: number;
  /** Renewals that succeeded so far. */
  renewals: number;
  renewing: boolean;
}

/** Keeps the leases of running executions alive until they finish. */
export interface Renewal {
  /** Start renewing a lease claimed just now. */
  start(storeKey: string, token: string): Lease;
  /** Stop renewing it; returns whether it was still being renewed. */
  stop(lease: Lease): boolean;
}

/**
 * One ticker renews every running execution's lease, instead of a timer per
 * execution: most operations end long before their first renewal is due, and
 * a timer created and cleared per request costs measurable throughput.
 */
export function leaseRenewal(options: ResolvedOptions, calls: StoreCalls): Renewal {
  const { store, hooks, leaseMs } = options;
  const renewEvery = Math.max(10, Math.floor(leaseMs / 3));
  const running = new Set<Lease>();
  let ticker: ReturnType<typeof setTimeout> | undefined;

  function tick(): void {
    ticker = undefined;
    const now = Date.now();
    for (const lease of running) {
      if (!lease.renewing && now - lease.renewedAt >= renewEvery) void renew(lease, now);
    }
    schedule();
  }

  function schedule(): void {
    if (ticker !== undefined || running.size === 0) return;
    // Half the renewal period: a lease is renewed at most 1.5 periods (half a
    // lease) after its last renewal, long before it runs out.
    ticker = setTimeout(tick, Math.max(5, renewEvery >> 1));
    (ticker as { unref?: () => void }).unref?.();
  }

  async function renew(lease: Lease, sentAt: number): Promise<void> {
    lease.renewing = true;
    try {
      const { storeKey, token } = lease;
      const result = await calls.within(
        storeKey,
        'renew',
        invoke(() => store.renew(storeKey, token, leaseMs)),
      );
      if (result === 'stale') {
        // Once the operation finished, a renewal that crossed its completion
        // is stale for a good reason: only a live operation lost its lease.
        if (running.delete(lease)) emit(hooks, 'leaseLost', { storeKey });
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
    start(storeKey, token) {
      const now = Date.now();
      const lease: Lease = {
        storeKey,
        token,
        renewedAt: now,
        deadline: now + leaseMs,
        renewals: 0,
        renewing: false,
      };
      running.add(lease);
      schedule();
      return lease;
    },
    stop(lease) {
      const wasRunning = running.delete(lease);
      if (running.size === 0 && ticker !== undefined) {
        clearTimeout(ticker);
        ticker = undefined;
      }
      return wasRunning;
    },
  };
}
