import { httpSuite } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import express5 from 'express';
import { afterAll } from 'vitest';
import { expressServer } from './http-app.js';

// The memory store and Redis (CI=true: Redis must answer): this suite proves the
// adapter's translation. Every other store runs the same suite end to end through
// the reference server, in its own package (test/conformance-http.test.ts).
// Express 4 runs the same suite in the deep tier (conformance-http-express4.deep.test.ts).
const stores = await reachableStores({ label: 'express', only: ['memory', 'redis'] });
afterAll(() => stores.close());

httpSuite({
  name: 'express 5',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: expressServer(express5),
});
