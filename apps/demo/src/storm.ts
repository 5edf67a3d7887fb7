import { createIdempotentFetch } from '@idem/client';

/**
 * Clients on a bad network. The network loses responses after the server
 * answered, clients time out and retry, and impatient users double-click
 * (concurrent duplicates). Two clients face the same network:
 *
 * - `naive`: a hand-written retry loop without keys, as most API clients have;
 * - `idem`: `@idem/client`, which gives each payment one key, sends it on
 *   every retry, and backs off as the server asks.
 */
export interface StormOptions {
  readonly baseUrl: string;
  /** How many distinct payments the client intends to make. */
  readonly payments: number;
  /** Which client retries: `idem` (`@idem/client`) or `naive` (no keys). */
  readonly client: 'idem' | 'naive';
  /** Payments in flight at once. */
  readonly concurrency?: number;
  /** Chance a response is lost on the way back (the client never sees it). */
  readonly lossRate?: number;
  /** Client timeout in ms: slower responses are abandoned and retried. */
  readonly timeoutMs?: number;
  /** Chance a payment is double-clicked: sent 2 or 3 times at once. */
  readonly duplicateRate?: number;
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

/**
 * The bad network, as a `fetch`: every request reaches the server, but a
 * share of the answers is lost after the server sent them.
 */
function lossyNetwork(lossRate: number, report: StormReport) {
  return async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
    report.requests++;
    let response: Response;
    let body: ArrayBuffer;
    try {
      response = await fetch(input, init);
      body = await response.arrayBuffer();
    } catch (error) {
      report.timeouts++;
      throw error;
    }
    if (Math.random() < lossRate) {
      report.lostResponses++;
      throw new TypeError('the response was lost on the way back');
    }
    if (response.headers.get('idempotent-replayed') === 'true') report.replays++;
    if (response.status === 409) report.conflicts++;
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

export async function runStorm(options: StormOptions): Promise<StormReport> {
  const {
    baseUrl,
    payments,
    client,
    concurrency = 16,
    lossRate = 0.25,
    timeoutMs = 40,
    duplicateRate = 0.3,
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
  const network = lossyNetwork(lossRate, report);
  const request = (reference: string) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-merchant': 'acme' },
    body: JSON.stringify({ reference, amount: 1999 }),
  });

  // With idem: the client does the retrying. The checkout page mints the key
  // (one per payment), so a double-click's copies share it.
  const idempotentFetch = createIdempotentFetch({
    fetch: network,
    attemptTimeoutMs: timeoutMs,
    maxAttempts,
    baseDelayMs: 5,
    maxDelayMs: 200,
    // The server asks a duplicate that finds the payment in flight to come
    // back in 1 s (Retry-After); this demo runs in milliseconds, so it waits 50 ms.
    maxRetryAfterMs: 50,
    onRetry: () => report.retries++,
  });
  async function withIdem(reference: string, key: string): Promise<boolean> {
    try {
      const response = await idempotentFetch(`${baseUrl}/payments`, {
        ...request(reference),
        idempotency: { key },
      });
      return response.status === 201;
    } catch {
      return false; // attempts or deadline ran out
    }
  }

  // Without idem: the usual hand-written loop, and no key to tell retries apart.
  async function attempt(reference: string, tries: number): Promise<number | undefined> {
    // Like real clients, each retry waits a little longer before giving up.
    const signal = AbortSignal.timeout(timeoutMs * (1 + tries / 4));
    try {
      return (await network(`${baseUrl}/payments`, { ...request(reference), signal })).status;
    } catch {
      return undefined;
    }
  }
  async function naive(reference: string): Promise<boolean> {
    for (let tries = 0; tries < maxAttempts; tries++) {
      if (tries > 0) {
        report.retries++;
        await sleep(Math.min(200, 5 * 2 ** tries) * Math.random());
      }
      const status = await attempt(reference, tries);
      if (status === 201) return true;
      if (status !== undefined && status < 500) return false;
    }
    return false;
  }

  async function pay(n: number): Promise<void> {
    const reference = `order-${n}`;
    const key = crypto.randomUUID();
    // A double-click: the same payment fired 2-3 times at once.
    const copies = Math.random() < duplicateRate ? 2 + Math.floor(Math.random() * 2) : 1;
    report.concurrentDuplicates += copies - 1;
    const outcomes = await Promise.all(
      Array.from({ length: copies }, () =>
        client === 'idem' ? withIdem(reference, key) : naive(reference),
      ),
    );
    if (outcomes.some(Boolean)) report.confirmed++;
    else report.failed++;
  }

  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < payments) await pay(next++);
    }),
  );
  return report;
}
