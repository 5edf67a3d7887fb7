import { httpSuite, referenceServer } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import { afterAll } from 'vitest';

// The HTTP suite end to end on this store through node-redis, by the
// reference server (a bare node:http server on @idem/core/http, the layer
// every adapter translates to). The adapters' own HTTP suites run on the
// memory store and on Redis through ioredis.
const stores = await reachableStores({ label: 'redis-node-http', only: ['redis-node'] });
afterAll(() => stores.close());

httpSuite({
  name: 'redis (node-redis)',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: referenceServer,
});
