import type { Store } from '@idem/core/store';
import { type Reply, type Send, send } from './client.js';
import type { HttpAppOptions, HttpAppRouteOptions, RouteName } from './contract.js';
import type { HttpCheckGroup, HttpSuiteOptions } from './options.js';

/** Thrown when an adapter breaks the contract; the message says what was expected. */
export class HttpConformanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpConformanceError';
  }
}

/** Fail with `message` unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new HttpConformanceError(message);
}

/** A one-shot hold on a route: the next request that enters it waits until `open()`. */
export interface Gate {
  /** Resolves once a request has entered the route and is being held. */
  readonly entered: Promise<void>;
  open(): void;
}

/** The engine's default `maxResponseBytes` (10 MiB), when neither the options nor the store set one. */
const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** One running test server, with its execution counters. */
export interface Target {
  readonly url: string;
  /**
   * The largest response body this server's idem keeps, in bytes: the
   * smaller of the options' `maxResponseBytes` and the store's own. Larger
   * responses go out whole and are answered `410 response-not-stored` on retry.
   */
  readonly maxResponseBytes: number;
  /** How many times `route` ran on this server. */
  runs(route: RouteName): number;
  /** Hold the next request that enters `route`. */
  hold(route: RouteName): Gate;
  /** Send a request to this server (`fetch`). */
  send(path: string, init?: Send): Promise<Reply>;
}

/** What every check gets: servers on demand, fresh keys, cleanup. */
export interface HttpHarness {
  /**
   * Start a server whose idem uses a fresh store and these options, with
   * `routeOptions` over them on `/own`.
   */
  start(options?: Partial<HttpAppOptions>, routeOptions?: HttpAppRouteOptions): Promise<Target>;
  /** A key no other check or run has used. */
  key(): string;
  close(): Promise<void>;
}

let harnesses = 0;

/** Build a harness on one of the suite's stores. */
export function createHarness(
  options: HttpSuiteOptions,
  createStore: () => Store | Promise<Store>,
): HttpHarness {
  const closers: Array<() => Promise<void>> = [];
  // Unique per harness, so checks sharing a persistent store never meet old records.
  const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${++harnesses}`;
  let keys = 0;
  return {
    async start(overrides = {}, routeOptions = {}) {
      const counts = new Map<RouteName, number>();
      const gates = new Map<RouteName, Promise<void>>();
      const entered = new Map<RouteName, () => void>();
      const opens: Array<() => void> = [];
      const store = overrides.store ?? (await createStore());
      const server = await options.createServer({
        options: { scope: (header) => header('x-tenant') ?? 'default', ...overrides, store },
        routeOptions,
        async enter(route) {
          const count = (counts.get(route) ?? 0) + 1;
          counts.set(route, count);
          const gate = gates.get(route);
          if (gate) {
            gates.delete(route);
            entered.get(route)?.();
            await gate;
          }
          return count;
        },
      });
      check(
        typeof server?.url === 'string' && /^https?:\/\//.test(server.url),
        `createServer must resolve to { url, close }, got url ${String(server?.url)}`,
      );
      closers.push(async () => {
        // Let held handlers finish, so no request outlives the check.
        gates.clear();
        for (const open of opens.splice(0)) open();
        await server.close();
      });
      const url = server.url.replace(/\/$/, '');
      return {
        url,
        maxResponseBytes: Math.min(
          overrides.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
          store.maxResponseBytes ?? Number.POSITIVE_INFINITY,
        ),
        runs: (route) => counts.get(route) ?? 0,
        hold(route) {
          let open!: () => void;
          gates.set(route, new Promise<void>((r) => (open = r)));
          opens.push(open);
          const inside = new Promise<void>((r) => entered.set(route, r));
          return { entered: inside, open };
        },
        send(path, init) {
          const reply = send(url, path, init);
          // A check that fails while a request is pending closes the server
          // under it: that request's failure is not news.
          reply.catch(() => {});
          return reply;
        },
      };
    },
    key: () => `idem-http-${run}-${++keys}`,
    async close() {
      for (const close of closers.splice(0).reverse()) await close();
    },
  };
}

/** Wait for `promise`, failing with `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HttpConformanceError(`timed out after ${ms} ms: ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A check as the suite declares it: a group, a name and a body run on a fresh harness. */
export interface CheckSpec {
  readonly group: HttpCheckGroup;
  readonly name: string;
  /** `runs`: how many runs each property in the check makes. */
  body(harness: HttpHarness, runs: number): Promise<void>;
}
