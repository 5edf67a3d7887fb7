import { fcParameters } from '@idem/conformance';
import { createIdempotency, type FinishedOutcome, isIdempotencyError } from '@idem/core';
import { scopedKey } from '@idem/core/store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idemTelemetry } from '../src/index.js';
import {
  breakableStore,
  childrenOf,
  requestSpans,
  sdk,
  total,
  withContextManager,
} from './harness.js';

withContextManager();

type Behaviour = 'ok' | 'throw' | 'not_kept' | 'big';

interface Job {
  readonly key: number;
  readonly scope: number;
  readonly payload: number;
  readonly behaviour: Behaviour;
  readonly delayMs: number;
}

const job: fc.Arbitrary<Job> = fc.record({
  key: fc.integer({ min: 0, max: 2 }),
  scope: fc.integer({ min: 0, max: 1 }),
  payload: fc.integer({ min: 0, max: 1 }),
  behaviour: fc.constantFrom<Behaviour>('ok', 'ok', 'throw', 'not_kept', 'big'),
  delayMs: fc.integer({ min: 0, max: 4 }),
});

/** Batches of jobs: the jobs of a batch run at once, the batches one after another. */
const batches = fc.array(fc.array(job, { minLength: 1, maxLength: 5 }), {
  minLength: 1,
  maxLength: 4,
});

/** The outcome a job's own result says it had. */
function outcomeOf(behaviour: Behaviour, result: unknown): FinishedOutcome {
  if (result === 'replayed') return 'replayed';
  if (result === 'executed') return behaviour === 'ok' ? 'executed' : 'executed_not_stored';
  if (isIdempotencyError(result, 'FINGERPRINT_MISMATCH')) return 'mismatch';
  if (isIdempotencyError(result, 'REQUEST_IN_FLIGHT')) return 'in_flight';
  if (isIdempotencyError(result, 'RESPONSE_NOT_STORED')) return 'response_not_stored';
  return 'failed';
}

describe('any mix of requests, several at once', () => {
  it('gives each request one span, under its own parent, with its outcome; metrics add up', async () => {
    await fc.assert(
      fc.asyncProperty(batches, async (plan) => {
        const otel = sdk();
        const hooks = idemTelemetry({
          tracerProvider: otel.tracerProvider,
          meterProvider: otel.meterProvider,
        });
        const idem = createIdempotency({
          store: breakableStore().store,
          hooks,
          logger: false,
          maxResponseBytes: 64,
        });
        const tracer = otel.tracerProvider.getTracer('consumer');
        const outcomes: FinishedOutcome[] = [];
        const keys: string[] = [];
        let n = 0;
        for (const batch of plan) {
          const results = await Promise.all(
            batch.map((j) => {
              const name = `job-${n++}`;
              return tracer.startActiveSpan(name, async (span) => {
                const run = idem.run(
                  `key-${j.key}`,
                  async () => {
                    await new Promise((r) => setTimeout(r, j.delayMs));
                    if (j.behaviour === 'throw') throw new Error('boom');
                    return j.behaviour === 'big' ? 'x'.repeat(100) : 'small';
                  },
                  {
                    scope: `tenant-${j.scope}`,
                    payload: j.payload,
                    shouldStore: () => j.behaviour !== 'not_kept',
                  },
                );
                const result = await run.then(
                  (r) => r.kind,
                  (error: unknown) => error,
                );
                span.end();
                return outcomeOf(j.behaviour, result);
              });
            }),
          );
          outcomes.push(...results);
          for (const j of batch) keys.push(await scopedKey(`tenant-${j.scope}`, `key-${j.key}`));
        }

        const spans = otel.spans();
        expect(requestSpans(spans)).toHaveLength(outcomes.length);
        for (const [i, outcome] of outcomes.entries()) {
          const parent = spans.find((s) => s.name === `job-${i}`)!;
          const mine = requestSpans(childrenOf(parent, spans));
          expect(mine.map((s) => s.name)).toEqual([`idem ${outcome}`]);
          expect(mine[0]!.attributes['idem.store_key']).toBe(keys[i]);
          // Phases only for an execution whose result went to the store.
          const ran =
            outcome === 'executed' ||
            (outcome === 'executed_not_stored' &&
              mine[0]!.attributes['idem.completion.attempts'] !== undefined);
          expect(childrenOf(mine[0]!, spans)).toHaveLength(ran ? 2 : 0);
        }

        const count = (o: FinishedOutcome) => outcomes.filter((x) => x === o).length;
        const durations = await otel.histogram('idem.request.duration');
        for (const o of new Set(outcomes)) {
          expect(
            total(
              durations.map((p) => ({ attributes: p.attributes, value: p.count })),
              { 'idem.outcome': o },
            ),
          ).toBe(count(o));
        }
        const stored = await otel.sums('idem.executions');
        expect(total(stored, { 'idem.result.stored': true })).toBe(count('executed'));
        const replays = await otel.sums('idem.replays');
        expect(total(replays, { 'idem.result.stored': true })).toBe(count('replayed'));
        expect(total(replays, { 'idem.result.stored': false })).toBe(count('response_not_stored'));
        expect(total(await otel.sums('idem.in_flight'))).toBe(count('in_flight'));
        expect(total(await otel.sums('idem.mismatches'))).toBe(count('mismatch'));
        const releases = await otel.sums('idem.releases');
        expect(total(releases, { 'idem.release.reason': 'failed' })).toBe(count('failed'));
        // "Ran, not stored" is either a result too big to keep or one not kept.
        expect(
          total(releases, { 'idem.release.reason': 'not_kept' }) +
            total(stored, { 'idem.result.stored': false }),
        ).toBe(count('executed_not_stored'));
        expect(total(await otel.sums('idem.active_requests'))).toBe(0);
        expect(await otel.sums('idem.store.errors')).toEqual([]);
      }),
      fcParameters(100),
    );
  }, 120_000);
});
