/**
 * `@idem/test-stores/storm`: the client side of the stores' chaos tests. A
 * retry storm against `POST /payments`: every payment has one idempotency
 * key, reused on every retry; some payments are sent twice at once (a
 * double click), some requests are abandoned before their answer (a client
 * timeout), and 503 and 409 answers are retried until a 2xx. The caller
 * breaks the store meanwhile and checks the database afterwards.
 *
 * @packageDocumentation
 */

/** Options of {@link retryStorm}. */
export interface RetryStormOptions {
  /** The payments endpoint, e.g. `http://127.0.0.1:1234/payments`. */
  readonly url: string;
  /** Distinct payments (idempotency keys) to make. */
  readonly payments: number;
  /**
   * Payments in flight at once.
   * @default 16
   */
  readonly concurrency?: number;
  /**
   * Share of payments whose first attempt is sent twice at once.
   * @default 0.2
   */
  readonly doubleClicks?: number;
  /**
   * Share of requests the client abandons after a few milliseconds, as a
   * timed-out client does: the request goes on at the server, the client retries.
   * @default 0.1
   */
  readonly abandon?: number;
  /**
   * Share of payments whose first 2xx answer the client loses (a dropped
   * connection): it retries with the same key and must get the same answer.
   * @default 0.2
   */
  readonly lose?: number;
  /**
   * How long one payment may take before the storm gives up on it (a failure).
   * @default 20000
   */
  readonly paymentDeadlineMs?: number;
}

/** One answer the storm did not expect (neither 2xx, 503 nor 409), or a payment never answered 2xx. */
export interface Unexpected {
  readonly reference: string;
  readonly status: number | 'deadline';
  readonly body: string;
}

/** What {@link retryStorm} saw. */
export interface StormReport {
  readonly payments: number;
  /** Requests sent, abandoned ones included. */
  requests: number;
  /** Requests abandoned before their answer. */
  abandoned: number;
  /** Answers by status. */
  readonly statuses: Record<number, number>;
  /** 503 answers by problem type (`rolled-back`, `store-unavailable`), or `handler` for the app's own 503. */
  readonly unavailable: Record<string, number>;
  /** 2xx answers that were replays (`Idempotent-Replayed: true`). */
  replays: number;
  /** Every 2xx body, by payment reference (more than one when an answer was lost or a replay came back). */
  readonly answers: Map<string, string[]>;
  readonly unexpected: Unexpected[];
  /** The longest time a payment took to get its first 2xx, in ms. */
  slowestMs: number;
  /** Payments that took over a second to get their first 2xx (a key blocked until its lease ran out). */
  overOneSecond: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run the storm; resolves when every payment got a 2xx or hit its deadline. */
export async function retryStorm(options: RetryStormOptions): Promise<StormReport> {
  const {
    url,
    payments,
    concurrency = 16,
    doubleClicks = 0.2,
    abandon = 0.1,
    lose = 0.2,
  } = options;
  const deadlineMs = options.paymentDeadlineMs ?? 20_000;
  const run = Math.random().toString(36).slice(2, 8);
  const report: StormReport = {
    payments,
    requests: 0,
    abandoned: 0,
    statuses: {},
    unavailable: {},
    replays: 0,
    answers: new Map(),
    unexpected: [],
    slowestMs: 0,
    overOneSecond: 0,
  };

  /** One request: its status and body, or undefined when the client abandoned it. */
  async function send(reference: string): Promise<{ status: number; body: string } | undefined> {
    report.requests++;
    const abandoning = Math.random() < abandon;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `pay-${reference}` },
        body: JSON.stringify({ reference, amount: 1999 }),
        signal: AbortSignal.timeout(abandoning ? 1 + Math.random() * 10 : 15_000),
      });
      const body = await res.text();
      report.statuses[res.status] = (report.statuses[res.status] ?? 0) + 1;
      if (res.status === 503) {
        const type = /"type":"[^"]*:([a-z-]+)"/.exec(body)?.[1] ?? 'handler';
        report.unavailable[type] = (report.unavailable[type] ?? 0) + 1;
      }
      if (res.ok && res.headers.get('idempotent-replayed') === 'true') report.replays++;
      return { status: res.status, body };
    } catch {
      report.abandoned++;
      return undefined;
    }
  }

  async function pay(reference: string): Promise<void> {
    const started = Date.now();
    let losing = Math.random() < lose;
    for (let attempt = 0; ; attempt++) {
      if (Date.now() - started > deadlineMs) {
        report.unexpected.push({ reference, status: 'deadline', body: '' });
        return;
      }
      const copies = attempt === 0 && Math.random() < doubleClicks ? 2 : 1;
      const results = await Promise.all(Array.from({ length: copies }, () => send(reference)));
      let done = false;
      for (const result of results) {
        if (!result) continue;
        if (result.status >= 200 && result.status < 300) {
          const answers = report.answers.get(reference) ?? [];
          answers.push(result.body);
          report.answers.set(reference, answers);
          done = true;
        } else if (result.status !== 503 && result.status !== 409) {
          report.unexpected.push({ reference, ...result });
        }
      }
      if (done && losing) {
        losing = false;
        done = false;
      }
      if (done) {
        const took = Date.now() - started;
        report.slowestMs = Math.max(report.slowestMs, took);
        if (took > 1_000) report.overOneSecond++;
        return;
      }
      // Shorter than Retry-After (1 s), so the storm stays a storm.
      await sleep(10 + Math.random() * Math.min(40 * 2 ** attempt, 250));
    }
  }

  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < payments) await pay(`${run}-${next++}`);
    }),
  );
  return report;
}

/**
 * Record every uncaught exception and unhandled rejection from now on (a
 * chaos test passes only with none); `stop()` removes the listeners.
 */
export function watchCrashes(): { readonly crashes: unknown[]; stop(): void } {
  const crashes: unknown[] = [];
  const record = (error: unknown) => crashes.push(error);
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  return {
    crashes,
    stop() {
      process.off('uncaughtException', record);
      process.off('unhandledRejection', record);
    },
  };
}

/** One line of figures for the test log. */
export function stormSummary(name: string, report: StormReport, extra: string): string {
  const count = (record: Record<string | number, number>) =>
    Object.entries(record)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') || 'none';
  return `${name}: ${report.payments} payments, ${report.requests} requests (${report.abandoned} abandoned, ${report.replays} replays), statuses {${count(report.statuses)}}, 503s {${count(report.unavailable)}}, ${extra}, slowest payment ${report.slowestMs} ms, ${report.overOneSecond} over 1 s`;
}
