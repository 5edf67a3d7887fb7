import { httpSuite } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import { afterAll } from 'vitest';
import { koaServer } from './http-app.js';

// The memory store and Redis (CI=true: Redis must answer): this suite proves the
// adapter's translation. Every other store runs the same suite end to end through
// the reference server, in its own package (test/conformance-http.test.ts).
const stores = await reachableStores({ label: 'koa', only: ['memory', 'redis'] });
afterAll(() => stores.close());

httpSuite({
  name: 'koa 3',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: koaServer,
});
