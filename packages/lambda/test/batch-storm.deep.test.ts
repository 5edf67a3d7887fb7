import { createIdempotency } from '@idem/core';
import { cpuPressure } from '@idem/test-pressure';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { type BatchRecord, idempotentBatch } from '../src/index.js';
import { lambdaContext, SOURCES, specs } from './batch/events.js';

// The same batch delivered to N function instances at once, again and again
// until nothing is reported, with the machine under CPU pressure: every
// record's side effect happens exactly once. Each instance is an engine of
// its own (an execution environment), so duplicates meet in the store, not in
// one process's single flight.
const stores = await reachableStores({
  label: 'lambda_batch_s',
  only: ['redis', 'postgres', 'dynamodb'],
});
afterAll(() => stores.close());

const INSTANCES = 6;
const RECORDS = 20;

describe.each(Object.entries(stores.stores))('a duplicate storm on %s', (_name, createStore) => {
  it.each(SOURCES)(
    '$name: side effects = 1 per record',
    async (source) => {
      const store = await createStore();
      const effects = new Map<string, number>();
      const attempts = new Map<string, number>();
      const handlers = Array.from({ length: INSTANCES }, () =>
        idempotentBatch(
          async (record: BatchRecord) => {
            const id = source.identifier(record);
            const attempt = (attempts.get(id) ?? 0) + 1;
            attempts.set(id, attempt);
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
            // About one record in five fails its first attempt.
            if (attempt === 1 && (JSON.parse(source.body(record)) as { n: number }).n % 5 === 0) {
              throw new Error('flaky');
            }
            effects.set(id, (effects.get(id) ?? 0) + 1);
            return id;
          },
          { idem: createIdempotency({ store, logger: false }), leaseMarginMs: 500 },
        ),
      );
      const event = source.event(specs('storm', RECORDS));
      const pressure = cpuPressure();
      let outstanding = event.Records;
      let deliveries = 0;
      let reported = 0;
      try {
        for (let round = 0; outstanding.length > 0 && round < 100; round++) {
          const answers = await Promise.all(
            handlers.map((handler) => handler({ Records: outstanding }, lambdaContext())),
          );
          deliveries += answers.length;
          const failed = new Set(
            answers.flatMap((a) => a.batchItemFailures.map((f) => f.itemIdentifier)),
          );
          reported += failed.size;
          // Every identifier reported is one of the event's, each once per answer.
          for (const answer of answers) {
            const ids = answer.batchItemFailures.map((f) => f.itemIdentifier);
            expect(new Set(ids).size).toBe(ids.length);
            expect(ids.every((id) => outstanding.some((r) => source.identifier(r) === id))).toBe(
              true,
            );
          }
          outstanding = outstanding.filter((r) => failed.has(source.identifier(r)));
          if (outstanding.length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await pressure.stop();
      }
      expect(outstanding).toEqual([]);
      expect(event.Records.map((r) => effects.get(source.identifier(r)))).toEqual(
        event.Records.map(() => 1),
      );
      console.log(
        `${_name} ${source.name}: ${RECORDS} records, ${deliveries} deliveries of ${INSTANCES} instances, ${reported} redeliveries reported, ${pressure.summary()}`,
      );
    },
    120_000,
  );
});
