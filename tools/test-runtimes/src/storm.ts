import type { HttpTestApp, RouteName, TestServer } from '@idem/conformance/http';
import type { Store } from '@idem/core';

/** What {@link duplicateStorm} saw. */
export interface DuplicateStormReport {
  /** Distinct keys sent. */
  readonly keys: number;
  /** Requests sent, retries of `409` included. */
  readonly requests: number;
  /** Handler runs, over every key: exactly `keys` when each ran once. */
  readonly executions: number;
  /** Keys whose answer was not the handler's `200` echo of the key. */
  readonly wrong: readonly string[];
  /** Keys whose copies did not all end with the same status and body. */
  readonly differing: readonly string[];
  /** How many answers had each status, `409`s waited out included. */
  readonly statuses: Readonly<Record<number, number>>;
}

/**
 * Many copies of one request at once, per key, against a test server of
 * `createServer` (the suite's, on any runtime): the double click, the
 * impatient retry loop and the redelivering queue in one burst. `409`
 * answers are retried with the same key until a final answer; every copy
 * must end with the same status and body, and the handler must have run
 * once per key: `executions` counts its runs, `differing` the keys whose
 * copies were answered by different runs (or differently).
 */
export async function duplicateStorm(
  createServer: (app: HttpTestApp) => Promise<TestServer>,
  store: Store,
  { keys = 10, copies = 30 }: { keys?: number; copies?: number } = {},
): Promise<DuplicateStormReport> {
  let executions = 0;
  const server = await createServer({
    options: { store, scope: () => 'storm' },
    routeOptions: {},
    async enter(_route: RouteName) {
      return ++executions;
    },
  });
  let requests = 0;
  const statuses: Record<number, number> = {};
  const base = server.url.replace(/\/$/, '');
  /** Status, body and the `x-run` the answer carries (which run of the server made it). */
  const send = async (key: string): Promise<[number, string, string | null]> => {
    for (let attempt = 0; ; attempt++) {
      requests++;
      const response = await fetch(`${base}/echo`, {
        method: 'POST',
        headers: { 'idempotency-key': key, 'content-type': 'text/plain' },
        body: key,
      });
      const body = await response.text();
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (response.status !== 409 || attempt > 200) {
        return [response.status, body, response.headers.get('x-run')];
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
    }
  };
  const wrong: string[] = [];
  const differing: string[] = [];
  try {
    const stamp = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const names = Array.from({ length: keys }, (_, i) => `storm-${stamp}-${i}`);
    const answers = await Promise.all(
      names.map((key) => Promise.all(Array.from({ length: copies }, () => send(key)))),
    );
    for (const [i, key] of names.entries()) {
      const [first, ...rest] = answers[i]!;
      if (rest.some(([s, b, r]) => s !== first![0] || b !== first![1] || r !== first![2])) {
        differing.push(key);
      }
      // Copies answered by two runs of the handler carry two `x-run` values.
      if (first![0] !== 200 || first![1] !== key) wrong.push(key);
    }
  } finally {
    await server.close();
  }
  return { keys, requests, executions, wrong, differing, statuses };
}
