import { httpSuite } from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import { afterAll } from 'vitest';
import { nestServer } from './nest-app.js';

// The memory store and Redis (CI=true: Redis must answer): this suite proves the
// adapter's translation on @nestjs/platform-fastify; conformance-express.test.ts
// runs the same app on @nestjs/platform-express.
const stores = await reachableStores({ label: 'nestjs fastify', only: ['memory', 'redis'] });
afterAll(() => stores.close());

httpSuite({
  name: 'nest on fastify',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: nestServer('fastify'),
});
