import { httpSuite } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import express4 from 'express4';
import { afterAll } from 'vitest';
import { type Express, expressServer } from './http-app.js';

// The HTTP suite on Express 4, in the deep tier: the everyday tier runs it on
// Express 5, and the adapter code is the same for both majors.
const stores = await reachableStores({ label: 'express 4', only: ['memory', 'redis'] });
afterAll(() => stores.close());

httpSuite({
  name: 'express 4',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: expressServer(express4 as unknown as Express),
});
