/**
 * A client on a bad network. Every payment gets one idempotency key, reused on
 * every retry. The network loses responses, the client times out and retries,
 * and impatient users double-click (concurrent duplicates).
 */
export interface StormOptions {
  readonly baseUrl: string;
  /** How many distinct payments the client intends to make. */
  readonly payments: number;
  /** Payments in flight at once. */
  readonly concurrency?: number;
  /** Chance a response is lost on the way back (the client never sees it). */
  readonly lossRate?: number;
  /** Client timeout in ms: slower responses are abandoned and retried. */
  readonly timeoutMs?: number;
  /** Chance a payment is double-clicked: sent 2 or 3 times at once. */
  readonly duplicateRate?: number;
  /** Whether to send the Idempotency-Key header (off for the unprotected baseline). */
  readonly sendKeys?: boolean;
  /** Give up on a payment after this many attempts. */
  readonly maxAttempts?: number;
}

export interface StormReport {
  requests: number;
  retries: number;
  concurrentDuplicates: number;
  lostResponses: number;
  timeouts: number;
  replays: number;
  conflicts: number;
  confirmed: number;
  failed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runStorm(options: StormOptions): Promise<StormReport> {
  const {
    baseUrl,
    payments,
    concurrency = 16,
    lossRate = 0.25,
    timeoutMs = 40,
    duplicateRate = 0.3,
    sendKeys = true,
    maxAttempts = 30,
  } = options;
  const report: StormReport = {
    requests: 0,
    retries: 0,
    concurrentDuplicates: 0,
    lostResponses: 0,
    timeouts: 0,
    replays: 0,
    conflicts: 0,
    confirmed: 0,
    failed: 0,
  };

  // One attempt: resolves with the status the client saw, or undefined if it saw nothing.
  async function attempt(reference: string, key: string, tries = 0): Promise<number | undefined> {
    report.requests++;
    const abort = new AbortController();
    // Like real clients, each retry waits a little longer before giving up.
    const timer = setTimeout(() => abort.abort(), timeoutMs * (1 + tries / 4));
    try {
      const res = await fetch(`${baseUrl}/payments`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-merchant': 'acme',
          ...(sendKeys ? { 'idempotency-key': key } : {}),
        },
        body: JSON.stringify({ reference, amount: 1999 }),
        signal: abort.signal,
      });
      await res.arrayBuffer();
      if (Math.random() < lossRate) {
        report.lostResponses++;
        return undefined;
      }
      if (res.headers.get('idempotent-replayed') === 'true') report.replays++;
      if (res.status === 409) report.conflicts++;
      return res.status;
    } catch {
      report.timeouts++;
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async function pay(n: number): Promise<void> {
    const reference = `order-${n}`;
    const key = crypto.randomUUID();
    // A double-click: the same request fired 2-3 times at once.
    if (Math.random() < duplicateRate) {
      const copies = 2 + Math.floor(Math.random() * 2);
      report.concurrentDuplicates += copies - 1;
      const statuses = await Promise.all(
        Array.from({ length: copies }, () => attempt(reference, key)),
      );
      if (statuses.some((s) => s === 201)) {
        report.confirmed++;
        return;
      }
    } else {
      const status = await attempt(reference, key);
      if (status === 201) {
        report.confirmed++;
        return;
      }
    }
    for (let tries = 1; tries < maxAttempts; tries++) {
      report.retries++;
      await sleep(Math.min(200, 5 * 2 ** tries) * Math.random());
      const status = await attempt(reference, key, tries);
      if (status === 201) {
        report.confirmed++;
        return;
      }
      if (status !== undefined && status !== 409 && status < 500) break;
    }
    report.failed++;
  }

  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < payments) await pay(next++);
    }),
  );
  return report;
}
