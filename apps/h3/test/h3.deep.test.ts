import { httpSuite } from '@idem/conformance/http';
import { duplicateStorm } from '@idem/test-runtimes';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { h3Server } from './suite-app.ts';

// h3 v2 on Node, in this process: the suite's routes as h3 routes under
// @idem/web, on the memory store and Redis (CI=true: Redis must answer).
const stores = await reachableStores({ label: 'h3', only: ['memory', 'redis'] });
afterAll(() => stores.close());

httpSuite({
  name: '@idem/web on h3 v2 (Node, srvx)',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: h3Server,
});

describe('@idem/web on h3 under a duplicate storm', () => {
  for (const [name, create] of Object.entries(stores.stores)) {
    it(`runs the handler once per key on ${name}`, async () => {
      const report = await duplicateStorm(h3Server, await create());
      console.info(`h3 storm on ${name}: ${JSON.stringify(report)}`);
      expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
    }, 60_000);
  }
});
