import { httpSuite } from '@idem/conformance/http';
import { duplicateStorm } from '@idem/test-runtimes';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { lambdaServer } from './http/app.js';

// Payload 2.0 (HTTP APIs and Function URLs) on the memory store and Redis
// (CI=true: Redis must answer); payload 1.0 and the ALB run the same suite in
// http-conformance.deep.test.ts. Every check passes as it is: Lambda buffers
// results, so streamed ones arrive whole, which the suite accepts.
const stores = await reachableStores({ label: 'lambda http', only: ['memory', 'redis'] });
afterAll(() => stores.close());

httpSuite({
  name: '@idem/lambda, payload 2.0 (HTTP API, Function URL)',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: lambdaServer('v2'),
});

describe('a duplicate storm through the payload 2.0 gateway', () => {
  for (const [name, create] of Object.entries(stores.stores)) {
    it(`runs the handler once per key on ${name}`, async () => {
      const report = await duplicateStorm(lambdaServer('v2'), await create());
      expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
    }, 60_000);
  }
});
