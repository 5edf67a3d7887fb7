import { frameworkOptions, type HttpTestApp, httpSuite } from '@idem/conformance/http';
import { duplicateStorm, serveFetch, suiteFetchHandler } from '@idem/test-runtimes';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

// The memory store and Redis (CI=true: Redis must answer), on Node: the
// Fetch handler served by @hono/node-server. Bun, Deno, Next.js and h3 run
// the same suite on the same handler in their own tests.
const stores = await reachableStores({ label: 'web', only: ['memory', 'redis'] });
afterAll(() => stores.close());

const headersOf = (request: Request) => (name: string) => request.headers.get(name) ?? undefined;

async function webServer({ options, routeOptions, enter }: HttpTestApp) {
  const idem = idempotency(frameworkOptions(options, headersOf));
  const own = idem.route(frameworkOptions(routeOptions, headersOf));
  const fetch = suiteFetchHandler({ enter, mount: idem, own });
  return serveFetch(fetch);
}

httpSuite({
  name: '@idem/web on Node (@hono/node-server)',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: webServer,
});

describe('a duplicate storm', () => {
  for (const [name, create] of Object.entries(stores.stores)) {
    it(`runs the handler once per key on ${name}`, async () => {
      const report = await duplicateStorm(webServer, await create());
      expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
    }, 60_000);
  }
});
