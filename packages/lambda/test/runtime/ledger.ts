import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The outside world of the functions under test, served from the test
 * process: each handler run reports its start to `POST /run` and gets told
 * what to do (run on, fail, exit the process, or hang until released), and
 * reports its side effect to `POST /effect` once it has done its work. The
 * tests count runs and side effects here, out of band, whatever the
 * functions answered.
 */

/** What a run is told to do when it starts. */
export type Step =
  /** Do the work (after `delayMs`) and record the side effect. */
  | { readonly action: 'proceed'; readonly delayMs?: number }
  /** Throw (a handler error): no side effect. */
  | { readonly action: 'fail' }
  /** `process.exit(1)` inside the handler, mid-run. */
  | { readonly action: 'exit' }
  /** Wait for {@link Ledger.release}: a run stuck until the deadline. */
  | { readonly action: 'hang' };

/** A run's or a side effect's report. */
export interface Report {
  readonly key: string;
  readonly requestId: string;
  readonly pid: number;
  readonly at: number;
}

export class Ledger {
  readonly runs: Report[] = [];
  readonly effects: Report[] = [];
  #server: Server;
  #plans = new Map<string, Step[]>();
  #held = new Map<string, ServerResponse[]>();
  #waiters: Array<() => void> = [];
  #defaultDelayMs: number;

  private constructor(server: Server, defaultDelayMs: number) {
    this.#server = server;
    this.#defaultDelayMs = defaultDelayMs;
    server.on('request', (request, response) => void this.#route(request, response));
  }

  /**
   * @param defaultDelayMs How long an unplanned run works before its side
   *   effect: long enough for duplicates to arrive while it runs.
   */
  static async start(defaultDelayMs: number): Promise<Ledger> {
    const server = createServer({ keepAlive: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new Ledger(server, defaultDelayMs);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** What the next runs of `key` do, in order; later runs proceed. */
  plan(key: string, ...steps: Step[]): void {
    this.#plans.set(key, [...(this.#plans.get(key) ?? []), ...steps]);
  }

  /** Answer the runs of `key` held by a 'hang' step with `step`. */
  release(key: string, step: Step = { action: 'proceed', delayMs: 0 }): number {
    const held = this.#held.get(key) ?? [];
    this.#held.delete(key);
    for (const response of held) answer(response, step);
    return held.length;
  }

  runsOf(key: string): Report[] {
    return this.runs.filter((r) => r.key === key);
  }

  effectsOf(key: string): Report[] {
    return this.effects.filter((r) => r.key === key);
  }

  /** Resolves once `predicate` holds (checked on every report), or rejects after `timeoutMs`. */
  async until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const started = Date.now();
    while (!predicate()) {
      const left = timeoutMs - (Date.now() - started);
      if (left <= 0) throw new Error(`ledger: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    for (const responses of this.#held.values()) for (const r of responses) r.destroy();
    this.#held.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<Report, 'at'>;
    const report: Report = { ...body, at: Date.now() };
    if (request.url === '/run') {
      this.runs.push(report);
      const step = this.#plans.get(report.key)?.shift() ?? {
        action: 'proceed',
        delayMs: this.#defaultDelayMs,
      };
      if (step.action === 'hang') {
        this.#held.set(report.key, [...(this.#held.get(report.key) ?? []), response]);
      } else {
        answer(response, step);
      }
    } else {
      this.effects.push(report);
      answer(response, { action: 'proceed' });
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

function answer(response: ServerResponse, step: Step): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(step));
}
