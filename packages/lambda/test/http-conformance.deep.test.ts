import { httpSuite } from '@idem/conformance/http';
import { duplicateStorm } from '@idem/test-runtimes';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { lambdaServer } from './http/app.js';
import type { GatewayFormat } from './http/gateway.js';

// Payload 1.0 (REST APIs) and an ALB with multi-value headers, beside the
// everyday file's payload 2.0: the same suite, memory and Redis.
const stores = await reachableStores({ label: 'lambda http deep', only: ['memory', 'redis'] });
afterAll(() => stores.close());

const formats: Record<Exclude<GatewayFormat, 'v2'>, string> = {
  v1: 'payload 1.0 (REST API)',
  'alb-multi': 'ALB, multi-value headers',
};

for (const [format, title] of Object.entries(formats) as Array<[GatewayFormat, string]>) {
  httpSuite({
    name: `@idem/lambda, ${title}`,
    stores: stores.stores,
    skipStores: stores.skipped,
    createServer: lambdaServer(format),
  });

  describe(`a duplicate storm through the ${title} gateway`, () => {
    for (const [name, create] of Object.entries(stores.stores)) {
      it(`runs the handler once per key on ${name}`, async () => {
        const report = await duplicateStorm(lambdaServer(format), await create());
        expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
      }, 60_000);
    }
  });
}
