import { httpSuite } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import express5 from 'express';
import { afterAll } from 'vitest';
import { expressServer } from './http-app.js';

// Memory, and Redis, PostgreSQL, MySQL/MariaDB and DynamoDB whose server answers (CI=true: all of them).
// Express 4 runs the same suite in the deep tier (conformance-http-express4.deep.test.ts).
const stores = await reachableStores({ label: 'express' });
afterAll(() => stores.close());

httpSuite({
  name: 'express 5',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: expressServer(express5),
});
