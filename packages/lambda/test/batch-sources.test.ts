import { createIdempotency, type Idempotency, type Store } from '@idem/core';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotentBatch } from '../src/index.js';
import { lambdaContext, SOURCES, specs } from './batch/events.js';
import { failuresOf, Ledger } from './batch/ledger.js';
import { switchable } from './batch/stores.js';

// Every scenario on every source, on Redis and PostgreSQL (CI=true: both
// must answer). Each "function instance" is an engine of its own on the
// shared store, as two Lambda execution environments are.
const stores = await reachableStores({ label: 'lambda_batch', only: ['redis', 'postgres'] });
afterAll(() => stores.close());

const quiet = { logger: false as const };

describe.each(Object.entries(stores.stores))('on %s', (_storeName, createStore) => {
  const instance = async (store?: Store): Promise<Idempotency> =>
    createIdempotency({ store: store ?? (await createStore()), ...quiet });

  describe.each(SOURCES)('$name', (source) => {
    it('runs each record of a batch once and replays it on redelivery', async () => {
      const ledger = new Ledger(source);
      const handler = idempotentBatch(ledger.handler(), { idem: await instance() });
      const event = source.event(specs('once', 4));
      expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });
      expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });
      expect(ledger.effectsOf(event.Records)).toEqual([1, 1, 1, 1]);
      expect(ledger.callsOf(event.Records)).toEqual([1, 1, 1, 1]);
    });

    it('reports the failed records, record by record, and a redelivery runs only those', async () => {
      const ledger = new Ledger(source);
      const handler = idempotentBatch(ledger.handler(), { idem: await instance() });
      const event = source.event(specs('partial', 6));
      const records = event.Records;
      ledger.failing.add(source.identifier(records[1]!));
      ledger.failing.add(source.identifier(records[4]!));
      const first = await handler(event, lambdaContext());
      if (source.ordered) {
        // The first failure and everything after it, none of which ran.
        expect(first).toEqual({ batchItemFailures: failuresOf(source, records.slice(1)) });
        expect(ledger.callsOf(records)).toEqual([1, 1, 0, 0, 0, 0]);
      } else {
        expect(first).toEqual({
          batchItemFailures: failuresOf(source, [records[1]!, records[4]!]),
        });
        expect(ledger.callsOf(records)).toEqual([1, 1, 1, 1, 1, 1]);
      }
      ledger.failing.clear();
      // Lambda delivers the whole batch again (a stream resumes from the
      // checkpoint; a queue may put any message back): successes replay.
      expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });
      expect(ledger.effectsOf(records)).toEqual([1, 1, 1, 1, 1, 1]);
      expect(ledger.callsOf(records)).toEqual(
        source.ordered ? [1, 2, 1, 1, 1, 1] : [1, 2, 1, 1, 2, 1],
      );
    });

    it('reports a record in flight in another invocation as failed; its redelivery replays it', async () => {
      const store = await createStore();
      const ledger = new Ledger(source);
      let open = () => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const slow = idempotentBatch(ledger.handler(gate), { idem: await instance(store) });
      const other = idempotentBatch(ledger.handler(), { idem: await instance(store) });
      const event = source.event(specs('inflight', 3));
      const first = slow(event, lambdaContext());
      // The slow instance holds its first record (ordered) or all of them.
      const held = source.ordered ? 1 : 3;
      while (ledger.inFlight < held) await new Promise((resolve) => setTimeout(resolve, 2));
      // Ordered: the other stops at the held first record; standard: all are held.
      expect(await other(event, lambdaContext())).toEqual({
        batchItemFailures: failuresOf(source, event.Records),
      });
      expect(ledger.callsOf(event.Records)).toEqual(source.ordered ? [1, 0, 0] : [1, 1, 1]);
      open();
      expect(await first).toEqual({ batchItemFailures: [] });
      expect(await other(event, lambdaContext())).toEqual({ batchItemFailures: [] });
      expect(ledger.effectsOf(event.Records)).toEqual([1, 1, 1]);
    });

    it('refuses a record whose key was used with another payload, logs it, and runs nothing', async () => {
      const warnings: string[] = [];
      const ledger = new Ledger(source);
      const idem = createIdempotency({
        store: await createStore(),
        logger: { warn: (message: string) => void warnings.push(message) },
      });
      const handler = idempotentBatch(ledger.handler(), { idem });
      const records = specs('mismatch', 2);
      const event = source.event(records);
      await handler(event, lambdaContext());
      const changed = source.event([records[0]!, { ...records[1]!, body: '{"n":"changed"}' }]);
      expect(await handler(changed, lambdaContext())).toEqual({
        batchItemFailures: failuresOf(source, [changed.Records[1]!]),
      });
      expect(ledger.callsOf(event.Records)).toEqual([1, 1]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(
        `${source.name} record ${source.identifier(changed.Records[1]!)}`,
      );
      expect(warnings[0]).toContain('different payload');
    });

    it('reports every record while the store is down, runs none, and runs each once when it is back', async () => {
      const outage = switchable(await createStore());
      const ledger = new Ledger(source);
      const handler = idempotentBatch(ledger.handler(), { idem: await instance(outage.store) });
      const event = source.event(specs('outage', 4));
      outage.down = true;
      expect(await handler(event, lambdaContext())).toEqual({
        batchItemFailures: failuresOf(source, event.Records),
      });
      expect(ledger.callsOf(event.Records)).toEqual([0, 0, 0, 0]);
      outage.down = false;
      // The breaker may still be open for up to its probe interval.
      for (let i = 0; i < 50; i++) {
        const { batchItemFailures } = await handler(event, lambdaContext());
        if (batchItemFailures.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(ledger.effectsOf(event.Records)).toEqual([1, 1, 1, 1]);
      expect(ledger.callsOf(event.Records)).toEqual([1, 1, 1, 1]);
    });
  });
});
