import { cpuPressure } from '@idem/test-pressure';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type StoreBackend, type StoreName } from './runtime/backends.js';
import type { Delivery } from './runtime/environment.js';
import { BATCH_SOURCES, type BatchSource, batchEvent, itemIdentifiers } from './runtime/events.js';
import { dynamoPerVerdict, printFigures, requestNames } from './runtime/figures.js';
import { Fleet } from './runtime/fleet.js';
import { killAndRedeliver, type Subject, storm, type Verdicted } from './runtime/scenarios.js';

// idempotentBatch through the real runtime, per batch event source, on
// DynamoDB (dynalite) and Redis: storms of one batch delivered to several
// environments at once, failures checked record by record, kills mid-batch.
const STORES: readonly StoreName[] = ['dynamodb', 'redis'];
/** Kills wait for the deadline: short. Storms run whole batches on a loaded machine: long. */
const TIMEOUT_MS = 3_000;
const STORM_TIMEOUT_MS = 15_000;
const MARGIN_MS = 1_000;
const SLACK_MS = 1_000;
const ORDERED: readonly BatchSource[] = ['sqs-fifo', 'kinesis', 'dynamodb'];

/** The ids Lambda was told to deliver again. */
function failures(delivery: Delivery): string[] {
  expect(delivery.result.kind, JSON.stringify(delivery.result)).toBe('response');
  const payload = (
    delivery.result as { payload: { batchItemFailures: Array<{ itemIdentifier: string }> } }
  ).payload;
  return payload.batchItemFailures.map((f) => f.itemIdentifier);
}

/** A subject whose every delivery is the batch of `ids`; a key is one record's id. */
function batchSubject(fleet: Fleet, source: BatchSource, ids: readonly string[]): Subject {
  const event = batchEvent(source, ids);
  const identifiers = itemIdentifiers(event);
  return {
    fleet,
    event: () => event,
    verdict(delivery, key) {
      if (delivery.result.kind !== 'response') return 'other';
      if (failures(delivery).includes(identifiers[ids.indexOf(key)]!)) return 'in-flight';
      const ran = fleet.ledger.runsOf(key).some((r) => r.requestId === delivery.requestId);
      return ran ? 'executed' : 'replayed';
    },
    answer: (delivery) => JSON.stringify(delivery.result),
  };
}

/** On an ordered source, the failures are the first failed record and every later one. */
function expectSuffix(failed: readonly string[], identifiers: readonly string[]) {
  if (failed.length === 0) return;
  expect(failed).toEqual(identifiers.slice(identifiers.indexOf(failed[0]!)));
}

describe.each(STORES)('on %s', (storeName) => {
  let store: StoreBackend | undefined;
  let fleet: Fleet | undefined;
  let killFleet: Fleet | undefined;

  beforeAll(async () => {
    const opened = await openStore(storeName, 'batch');
    if (typeof opened === 'string') return;
    store = opened;
    const deploy = (timeoutMs: number, environments: number) =>
      Fleet.deploy({
        source: 'batch.ts',
        store: opened,
        environments,
        timeoutMs,
        leaseMarginMs: MARGIN_MS,
        workMs: 200,
      });
    fleet = await deploy(STORM_TIMEOUT_MS, 4);
    killFleet = await deploy(TIMEOUT_MS, 2);
  }, 120_000);

  afterAll(async () => {
    await fleet?.close();
    await killFleet?.close();
    await store?.close();
  });

  describe.each(BATCH_SOURCES)('%s', (source) => {
    const ordered = ORDERED.includes(source);

    it('one batch delivered to four environments at once, three times each, under CPU pressure: each record runs once', async (ctx) => {
      if (!fleet) return ctx.skip();
      const ids = [1, 2, 3, 4, 5].map((n) => `${source}-storm-${n}`);
      const subject = batchSubject(fleet, source, ids);
      const identifiers = itemIdentifiers(subject.event(''));
      const pressure = cpuPressure();
      let deliveries: Verdicted[];
      try {
        // Every record shares the batch's deliveries: storm one key, read the others from the same deliveries.
        deliveries = (await storm(subject, [ids[0]!], 3)).byKey.get(ids[0]!)!;
      } finally {
        await pressure.stop();
      }
      const perRecord: Verdicted[] = [];
      for (const { delivery } of deliveries) {
        const failed = failures(delivery);
        expect(identifiers).toEqual(expect.arrayContaining(failed));
        if (ordered) expectSuffix(failed, identifiers);
        for (const id of ids) perRecord.push({ delivery, verdict: subject.verdict(delivery, id) });
      }
      // Every record has run exactly once, and a delivery after the storm replays the whole batch.
      for (const id of ids) {
        expect(fleet.ledger.runsOf(id), `${id}\n${fleet.stderr()}`).toHaveLength(1);
        expect(fleet.ledger.effectsOf(id)).toHaveLength(1);
      }
      const after = await fleet.deliver(0, subject.event(''));
      expect(failures(after)).toEqual([]);
      const count = (v: string) => perRecord.filter((d) => d.verdict === v).length;
      expect(count('executed')).toBe(ids.length);
      expect(count('other')).toBe(0);
      printFigures({
        test: 'batch-storm',
        source,
        store: storeName,
        deliveries: deliveries.length,
        recordDeliveries: perRecord.length,
        executions: count('executed'),
        replays: count('replayed'),
        reportedFailed: count('in-flight'),
        pressure: pressure.summary(),
        ...(storeName === 'dynamodb'
          ? { dynamodbPerBatch: dynamoPerVerdict(fleet, deliveries) }
          : {}),
      });
    });

    it('partial batch failures record by record, then redeliveries of the whole batch replay what succeeded', async (ctx) => {
      if (!fleet) return ctx.skip();
      const ids = [1, 2, 3, 4, 5, 6].map((n) => `${source}-partial-${n}`);
      const event = batchEvent(source, ids);
      const identifiers = itemIdentifiers(event);
      fleet.ledger.plan(ids[1]!, { action: 'fail' });
      fleet.ledger.plan(ids[3]!, { action: 'fail' });
      const runs = () => ids.map((id) => fleet!.ledger.runsOf(id).length);
      const effects = () => ids.map((id) => fleet!.ledger.effectsOf(id).length);

      const first = await fleet.deliver(0, event);
      // Ordered: stops at the first failure; it and every later record go back to Lambda, unrun.
      expect(failures(first)).toEqual(
        ordered ? identifiers.slice(1) : [identifiers[1], identifiers[3]],
      );
      expect(runs()).toEqual(ordered ? [1, 1, 0, 0, 0, 0] : [1, 1, 1, 1, 1, 1]);
      const second = await fleet.deliver(1, event);
      // The retry replays what succeeded; ordered, it runs 2 and 3 and stops at 4's planned failure.
      expect(failures(second)).toEqual(ordered ? identifiers.slice(3) : []);
      expect(runs()).toEqual(ordered ? [1, 2, 1, 1, 0, 0] : [1, 2, 1, 2, 1, 1]);
      const third = await fleet.deliver(2, event);
      expect(failures(third)).toEqual([]);
      expect(effects()).toEqual([1, 1, 1, 1, 1, 1]);
      const fourth = await fleet.deliver(3, event);
      expect(failures(fourth)).toEqual([]);
      expect(runs()).toEqual([1, 2, 1, 2, 1, 1]);
      printFigures({
        test: 'batch-partial',
        source,
        store: storeName,
        failures: [first, second, third, fourth].map((d) => failures(d).length),
        ...(storeName === 'dynamodb'
          ? { replayedBatchRequests: requestNames(fleet, fourth.requestId) }
          : {}),
      });
    });

    it('a record whose run exits the process, then one that hangs to the timeout: taken over leaseMarginMs after the deadline', async (ctx) => {
      const fleet = killFleet;
      if (!fleet) return ctx.skip();
      for (const how of ['exit', 'timeout'] as const) {
        const ids = [1, 2, 3].map((n) => `${source}-${how}-${n}`);
        const subject = batchSubject(fleet, source, ids);
        const takeover = await killAndRedeliver(subject, ids[1]!, how);
        expect(takeover.killed.result.kind).toBe(how);
        expect(takeover.unexpected).toEqual([]);
        expect(takeover.refused).toBeGreaterThan(0);
        expect(takeover.delayMs).toBeGreaterThanOrEqual(MARGIN_MS - 100);
        expect(takeover.delayMs).toBeLessThanOrEqual(MARGIN_MS + SLACK_MS);
        expect(failures(takeover.executed)).toEqual([]);
        for (const id of ids) expect(fleet.ledger.effectsOf(id), id).toHaveLength(1);
        // The record that hung ran twice (killed, then taken over); a record the kill cut off did too.
        expect(fleet.ledger.runsOf(ids[1]!)).toHaveLength(2);
        printFigures({
          test: `batch-kill-${how}`,
          source,
          store: storeName,
          takeoverMs: takeover.delayMs,
          refusedBeforeTakeover: takeover.refused,
          runs: ids.map((id) => fleet.ledger.runsOf(id).length),
        });
      }
    });
  });
});
