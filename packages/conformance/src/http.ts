/**
 * `@idem/conformance/http`: one black-box suite, over real HTTP, that every
 * idem adapter passes, so Hono, Express and Fastify give every HTTP answer of docs/SEMANTICS.md the same way.
 *
 * An adapter's test hands the suite a factory that starts its framework on an
 * ephemeral port with idem mounted from the options it is given (and `/own`
 * with the route options it is given over them) and the fixed routes of
 * {@link RouteName}; the suite sends requests with the platform's `fetch`
 * (and `node:http` or a raw socket for what `fetch` cannot send) and counts
 * handler runs through `enter`, never through timing.
 *
 * ```ts
 * import { frameworkOptions, httpSuite } from '@idem/conformance/http';
 * import { memoryStore } from '@idem/store-memory';
 *
 * httpSuite({
 *   name: 'express 5',
 *   stores: { memory: () => memoryStore() },
 *   createServer: async ({ options, routeOptions, enter }) => {
 *     const app = express();
 *     const headersOf = (req: Request) => (name: string) => req.get(name);
 *     const idem = idempotency(frameworkOptions(options, headersOf));
 *     app.use((req, res, next) => (req.path === '/own' ? next() : idem(req, res, next)));
 *     app.all('/own', idem.route(frameworkOptions(routeOptions, headersOf)), async (req, res) => {
 *       const run = await enter('own');
 *       // … as /echo
 *     });
 *     app.all('/echo', async (req, res) => {
 *       const run = await enter('echo');
 *       // … the rest of the route contract (RouteName)
 *     });
 *     const server = app.listen(0, '127.0.0.1');
 *     await once(server, 'listening');
 *     return {
 *       url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
 *       close: async () => { server.closeAllConnections(); server.close(); },
 *     };
 *   },
 * });
 * ```
 *
 * @packageDocumentation
 */
import { afterAll, describe, it } from 'vitest';
import { concurrencyChecks, fingerprintChecks, isolationChecks } from './http/checks/conflicts.js';
import { keyChecks, methodChecks } from './http/checks/keys.js';
import { problemChecks } from './http/checks/problems.js';
import { readFirstChecks } from './http/checks/read-first.js';
import { replayChecks } from './http/checks/replay.js';
import { routeChecks } from './http/checks/routes.js';
import { type CheckSpec, createHarness } from './http/harness.js';
import type { HttpCheck, HttpSuiteOptions } from './http/options.js';
import { assertKnownChecks, skipReason } from './skip.js';

export { brokenStore } from './http/checks/conflicts.js';
export {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HeaderReader,
  type HttpAppOptions,
  type HttpAppRouteOptions,
  type HttpTestApp,
  READ_FIRST,
  type RouteName,
  type TestServer,
} from './http/contract.js';

import { env } from './env.js';

export { HttpConformanceError } from './http/harness.js';
export type { HttpCheck, HttpCheckGroup, HttpSuiteOptions } from './http/options.js';
export {
  referenceServer,
  type StoreHttpSuiteOptions,
  storeHttpSuite,
} from './http/store-server.js';

const ALL: readonly CheckSpec[] = [
  ...methodChecks,
  ...keyChecks,
  ...replayChecks,
  ...concurrencyChecks,
  ...fingerprintChecks,
  ...isolationChecks,
  ...problemChecks,
  ...routeChecks,
  ...readFirstChecks,
];

/**
 * The suite's checks for one store, as plain async functions that throw an
 * `HttpConformanceError` on failure: for other test runners, and for proving
 * the suite catches broken adapters.
 *
 * @param store Which of `options.stores` to run on.
 */
export function httpChecks(options: HttpSuiteOptions, store: string): readonly HttpCheck[] {
  const createStore = options.stores[store];
  if (!createStore) {
    throw new Error(
      `httpChecks: no store named ${JSON.stringify(store)}; options.stores has ${Object.keys(options.stores).join(', ') || 'none'}.`,
    );
  }
  const runs = Number(env('FC_NUM_RUNS')) || 25;
  return ALL.map((spec) => ({
    group: spec.group,
    name: spec.name,
    async run() {
      const harness = createHarness(options, createStore);
      try {
        await spec.body(harness, runs);
      } finally {
        await harness.close();
      }
    },
  }));
}

/**
 * Declare the HTTP conformance suite as vitest tests, one `describe` block per
 * store: pass-through methods, keys, replays, handler outcomes, concurrency,
 * fingerprints, store failures, scopes, bodies and problems (every row of
 * docs/SEMANTICS.md). `FC_NUM_RUNS` and `FC_SEED` steer the properties; a failure prints
 * its seed.
 */
export function httpSuite(options: HttpSuiteOptions): void {
  describe(`@idem/conformance http suite: ${options.name}`, () => {
    if (options.skip) {
      it.skip(`skipped: ${options.skip}`, () => {});
      return;
    }
    const stores = Object.keys(options.stores);
    const unreachable = Object.entries(options.skipStores ?? {});
    if (stores.length === 0 && unreachable.length === 0)
      throw new Error('httpSuite: pass at least one store in options.stores.');
    for (const [store] of unreachable) {
      if (options.stores[store]) {
        throw new Error(
          `httpSuite: the ${JSON.stringify(store)} store is in both stores and skipStores; keep it in one.`,
        );
      }
    }
    assertKnownChecks(
      'httpSuite',
      options.skipChecks,
      ALL.map((spec) => spec.name),
    );
    for (const store of stores) {
      describe(`on the ${store} store`, () => {
        for (const c of httpChecks(options, store)) {
          const reason = skipReason(options, c);
          if (reason) it.skip(`${c.group}: ${c.name} (skipped: ${reason})`, () => {});
          else it(`${c.group}: ${c.name}`, () => c.run(), options.timeoutMs ?? 30_000);
        }
      });
    }
    for (const [store, reason] of unreachable) {
      describe(`on the ${store} store`, () => {
        it.skip(`skipped: ${reason}`, () => {});
      });
    }
    if (options.teardown) afterAll(options.teardown);
  });
}
