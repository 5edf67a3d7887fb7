import { httpSuite } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import { afterAll } from 'vitest';
import { nestServer } from './nest-app.js';

// The memory store and Redis (CI=true: Redis must answer): this suite proves the
// adapter's translation on @nestjs/platform-express; conformance-fastify.test.ts
// runs the same app on @nestjs/platform-fastify.
const stores = await reachableStores({ label: 'nestjs express', only: ['memory', 'redis'] });
afterAll(() => stores.close());

httpSuite({
  name: 'nest on express',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: nestServer('express'),
});
