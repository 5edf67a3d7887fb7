import { createIdempotency } from '@idem/core';
import { reachableStores } from '@idem/test-stores';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotentBatch } from '../src/index.js';
import { lambdaContext, SOURCES, specs } from './batch/events.js';
import { failuresOf, Ledger } from './batch/ledger.js';

// Random batches with random failing records, on Redis (CI=true: it must answer).
const stores = await reachableStores({ label: 'lambda_batch_p', only: ['redis'] });
afterAll(() => stores.close());
const redis = stores.stores.redis;

describe.each(SOURCES)('$name: random batches with random failures', (source) => {
  (redis ? it : it.skip)(
    'reports exactly the failed records (ordered: from the first), and redeliveries run each record once overall',
    async () => {
      const idem = createIdempotency({ store: await redis!(), logger: false });
      await fc.assert(
        fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 10 }), async (fails) => {
          const ledger = new Ledger(source);
          const handler = idempotentBatch(ledger.handler(), { idem });
          const event = source.event(specs('prop', fails.length));
          const records = event.Records;
          for (const [i, record] of records.entries()) {
            if (fails[i]) ledger.failing.add(source.identifier(record));
          }
          const first = fails.indexOf(true);
          const expected = source.ordered
            ? first === -1
              ? []
              : records.slice(first)
            : records.filter((_, i) => fails[i]);
          const reported = await handler(event, lambdaContext());
          expect(reported).toEqual({ batchItemFailures: failuresOf(source, expected) });

          // Lambda delivers the reported records again (a stream: from the
          // first of them); they now succeed.
          ledger.failing.clear();
          expect(await handler({ Records: expected }, lambdaContext())).toEqual({
            batchItemFailures: [],
          });
          // A late duplicate of the whole batch replays everything.
          expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });

          expect(ledger.effectsOf(records)).toEqual(records.map(() => 1));
          const calledTwice = (i: number) => (source.ordered ? i === first : fails[i] === true);
          expect(ledger.callsOf(records)).toEqual(records.map((_, i) => (calledTwice(i) ? 2 : 1)));
        }),
        { numRuns: 40 },
      );
    },
  );
});
