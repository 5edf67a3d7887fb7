import { httpSuite, referenceServer } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import { afterAll } from 'vitest';

// The HTTP suite end to end on this store, through the reference server (a
// bare node:http server on @idem/core/http, the layer every adapter
// translates to). The adapters' own HTTP suites run on the memory store and
// Redis: they prove the translation; this file proves the store over HTTP.
const stores = await reachableStores({ label: 'postgres-http', only: ['postgres'] });
afterAll(() => stores.close());

httpSuite({
  name: 'postgres',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: referenceServer,
});
