import { cpuPressure } from '@idem/test-pressure';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type StoreBackend, type StoreName } from './runtime/backends.js';
import { HTTP_SOURCES, type HttpSource, httpAnswer, httpEvent } from './runtime/events.js';
import { dynamoPerVerdict, printFigures, requestNames, tally } from './runtime/figures.js';
import { Fleet } from './runtime/fleet.js';
import {
  killAndRedeliver,
  lateCompletion,
  type Subject,
  storm,
  type Takeover,
} from './runtime/scenarios.js';

// The HTTP entry points through the real runtime: aws-lambda-ric processes
// polling a local Runtime API, on DynamoDB (dynalite) and Redis, for every
// HTTP event source, with the wrapper and with Middy.
const STORES: readonly StoreName[] = ['dynamodb', 'redis'];
const ENTRIES = [
  { entry: 'wrapper', source: 'http.ts', kills: HTTP_SOURCES },
  { entry: 'middy', source: 'middy.ts', kills: ['rest', 'http-api'] as HttpSource[] },
] as const;
/** Long enough for a storm's delivery on a loaded 2-core machine (a cold first test timed out at 2 s). */
const TIMEOUT_MS = 4_000;
const MARGIN_MS = 1_000;
/** Redeliveries every 100 ms, each a full invocation on a loaded 2-core machine. */
const SLACK_MS = 1_000;

function httpSubject(fleet: Fleet, source: HttpSource): Subject {
  return {
    fleet,
    event: (key) => httpEvent(source, key),
    verdict(delivery) {
      if (delivery.result.kind !== 'response') return 'other';
      const answer = httpAnswer(delivery.result.payload);
      if (answer.status === 201) {
        return answer.headers['idempotent-replayed'] === 'true' ? 'replayed' : 'executed';
      }
      return answer.status === 409 ? 'in-flight' : 'other';
    },
    answer: (delivery) => httpAnswer((delivery.result as { payload: unknown }).payload).body,
  };
}

function checkTakeover(takeover: Takeover, how: 'exit' | 'timeout') {
  const said = `${how}: ${JSON.stringify({ delayMs: takeover.delayMs, refused: takeover.refused })}`;
  expect(takeover.killed.result.kind, said).toBe(how);
  expect(takeover.unexpected, said).toEqual([]);
  // The lease held until the deadline plus the margin (the killed run may still be
  // working until the deadline), never a full lease or a day...
  expect(takeover.refused, said).toBeGreaterThan(0);
  expect(takeover.delayMs, said).toBeGreaterThanOrEqual(MARGIN_MS - 100);
  // ...and the first redelivery after it took the key over.
  expect(takeover.delayMs, said).toBeLessThanOrEqual(MARGIN_MS + SLACK_MS);
}

/** A kill then redeliveries until the work runs again; the figures printed. */
async function killed(
  fleet: Fleet,
  subject: Subject,
  labels: { entry: string; source: HttpSource; store: StoreName },
  how: 'exit' | 'timeout',
) {
  const key = `${labels.entry}-${labels.source}-${how}`;
  const takeover = await killAndRedeliver(subject, key, how);
  printFigures({
    test: `kill-${how}`,
    ...labels,
    takeoverMs: takeover.delayMs,
    refusedBeforeTakeover: takeover.refused,
    ...(labels.store === 'dynamodb'
      ? {
          killedRequests: requestNames(fleet, takeover.killed.requestId),
          takeoverRequests: requestNames(fleet, takeover.executed.requestId),
        }
      : {}),
  });
  checkTakeover(takeover, how);
  expect(fleet.ledger.runsOf(key)).toHaveLength(2);
  expect(fleet.ledger.effectsOf(key)).toHaveLength(1);
  const again = await fleet.deliver(2, subject.event(key));
  expect(subject.verdict(again, key)).toBe('replayed');
}

describe.each(STORES)('on %s', (storeName) => {
  describe.each(ENTRIES)('$entry', ({ entry, source: module, kills }) => {
    let store: StoreBackend | undefined;
    let fleet: Fleet | undefined;

    beforeAll(async () => {
      const opened = await openStore(storeName, `http-${entry}`);
      if (typeof opened === 'string') return;
      store = opened;
      fleet = await Fleet.deploy({
        source: module,
        store,
        environments: 4,
        timeoutMs: TIMEOUT_MS,
        leaseMarginMs: MARGIN_MS,
        workMs: 300,
      });
    }, 120_000);

    afterAll(async () => {
      await fleet?.close();
      await store?.close();
    });

    describe.each(HTTP_SOURCES)('%s', (source) => {
      it('duplicate storm under CPU pressure: each key runs once, every duplicate is a replay or a 409', async (ctx) => {
        if (!fleet) return ctx.skip();
        const subject = httpSubject(fleet, source);
        const keys = [1, 2, 3].map((n) => `${entry}-${source}-storm-${n}`);
        const pressure = cpuPressure();
        let result: Awaited<ReturnType<typeof storm>>;
        try {
          result = await storm(subject, keys, 3);
        } finally {
          await pressure.stop();
        }
        for (const key of keys) {
          const delivered = result.byKey.get(key)!;
          expect(fleet.ledger.runsOf(key), fleet.stderr()).toHaveLength(1);
          expect(fleet.ledger.effectsOf(key)).toHaveLength(1);
          const counts = tally(delivered);
          const others = delivered
            .filter((d) => d.verdict === 'other')
            .map((d) => JSON.stringify(d.delivery.result).slice(0, 300));
          expect(counts, others.join('\n')).toMatchObject({ executed: 1, other: 0 });
          const executed = delivered.find((d) => d.verdict === 'executed')!;
          for (const { delivery, verdict } of delivered) {
            if (verdict === 'replayed')
              expect(subject.answer(delivery, key)).toBe(subject.answer(executed.delivery, key));
            if (verdict === 'in-flight') {
              const answer = httpAnswer((delivery.result as { payload: unknown }).payload);
              expect(answer.headers['retry-after']).toMatch(/^\d+$/);
              expect(answer.headers['content-type']).toContain('application/problem+json');
            }
          }
          if (storeName === 'dynamodb') {
            // One conditional write claims, one completes: no read-before-write, no second try.
            const writes = requestNames(fleet, executed.delivery.requestId);
            expect(writes.filter((w) => w.startsWith('PutItem:claim'))).toEqual([
              'PutItem:claim:ok',
            ]);
            expect(writes.filter((w) => w.startsWith('UpdateItem:complete'))).toEqual([
              'UpdateItem:complete:ok',
            ]);
          }
        }
        const all = [...result.byKey.values()].flat();
        expect(result.figures.replays).toBeGreaterThan(0);
        printFigures({
          test: 'storm',
          entry,
          source,
          store: storeName,
          ...result.figures,
          pressure: pressure.summary(),
          ...(storeName === 'dynamodb' ? { dynamodb: dynamoPerVerdict(fleet, all) } : {}),
        });
      });

      it.runIf((kills as readonly string[]).includes(source))(
        'process.exit mid-run: the redelivery takes the key over leaseMarginMs after the deadline and runs it once',
        async (ctx) => {
          if (!fleet) return ctx.skip();
          const labels = { entry, source, store: storeName };
          await killed(fleet, httpSubject(fleet, source), labels, 'exit');
        },
      );

      it.runIf((kills as readonly string[]).includes(source))(
        entry === 'middy'
          ? "timeout kill: Middy's early timeout (5 ms before the deadline, the handler still running) must not free the key; the redelivery takes it over leaseMarginMs after the deadline"
          : 'timeout kill: the redelivery takes the key over leaseMarginMs after the deadline and runs it once',
        async (ctx) => {
          if (!fleet) return ctx.skip();
          const labels = { entry, source, store: storeName };
          await killed(fleet, httpSubject(fleet, source), labels, 'timeout');
        },
      );
    });

    it('a run frozen past its deadline and thawed after the takeover cannot overwrite the stored answer', async (ctx) => {
      if (!fleet) return ctx.skip();
      const subject = httpSubject(fleet, 'rest');
      const key = `${entry}-late`;
      const late = await lateCompletion(subject, key);
      // Middy answers its own TimeoutError 5 ms before the deadline, and then
      // Lambda keeps the process (not cut off) with the handler still pending;
      // on a loaded machine the deadline may come first, and the process is
      // frozen with Middy's timer pending: either way, idem keeps the key.
      expect(entry === 'middy' ? ['error', 'timeout'] : ['timeout']).toContain(
        late.killed.result.kind,
      );
      // The late run did its work (it had started), but its answer is not the one kept.
      expect(late.effects).toBe(2);
      expect(subject.verdict(late.after, key)).toBe('replayed');
      expect(subject.answer(late.after, key)).toBe(subject.answer(late.executed, key));
      if (storeName === 'dynamodb') {
        const requests = requestNames(fleet, late.killed.requestId);
        if (entry === 'middy') {
          // Middy's chain ends at its timeout: the late run never tries to complete.
          expect(requests.filter((r) => r.startsWith('UpdateItem:complete'))).toEqual([]);
        } else {
          expect(requests).toContain('UpdateItem:complete:ConditionalCheckFailedException');
        }
      }
      printFigures({
        test: 'late-completion',
        entry,
        store: storeName,
        takeoverMs: late.delayMs,
        ...(storeName === 'dynamodb'
          ? { lateRequests: requestNames(fleet, late.killed.requestId) }
          : {}),
      });
    });
  });
});
