import { createHash } from 'node:crypto';
import { createIdempotency, type IdempotencyOptions, isIdempotencyError } from '@idem/core';
import { scopedKey } from '@idem/core/store';
import { metrics, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { idemTelemetry } from '../src/index.js';
import {
  breakableStore,
  childrenOf,
  eventually,
  ms,
  requestSpans,
  sdk,
  total,
  withContextManager,
} from './harness.js';

withContextManager();

/** The scope hash as core computes it (SHA-256 of the scope's UTF-8 bytes). */
const scopeHash = (scope: string) =>
  createHash('sha256').update(scope, 'utf8').digest('base64url').slice(0, 22);

const gate = () => {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
};

const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (error: unknown) => (isIdempotencyError(error) ? error.code : 'threw'),
  );

function setup(options: Partial<IdempotencyOptions> = {}) {
  const otel = sdk();
  const broken = breakableStore();
  const hooks = idemTelemetry({
    tracerProvider: otel.tracerProvider,
    meterProvider: otel.meterProvider,
  });
  const idem = createIdempotency({ store: broken.store, hooks, logger: false, ...options });
  const tracer = otel.tracerProvider.getTracer('consumer');
  /** Run inside a span of its own, as an instrumented queue consumer does. */
  const consume = <T>(name: string, run: () => Promise<T>) =>
    tracer.startActiveSpan(name, async (span) => {
      try {
        return await run();
      } finally {
        span.end();
      }
    });
  const spanNamed = (name: string) => otel.spans().find((s) => s.name === name)!;
  /** The one idem span under the consumer span `name`. */
  const idemUnder = (name: string): ReadableSpan => {
    const found = requestSpans(childrenOf(spanNamed(name), otel.spans()));
    expect(found, `idem spans under ${name}`).toHaveLength(1);
    return found[0]!;
  };
  return { otel, idem, broken, consume, spanNamed, idemUnder };
}

describe('spans of the generic engine', () => {
  it('an execution: idem executed under the consumer span, its claim and completion as children', async () => {
    const { idem, consume, idemUnder, otel } = setup();
    const outcome = await consume('job', () => idem.run('a', () => 'one', { scope: 'invoices' }));
    expect(outcome).toEqual({ kind: 'executed', value: 'one' });

    const span = idemUnder('job');
    expect(span.name).toBe('idem executed');
    expect(span.attributes).toEqual({
      'idem.outcome': 'executed',
      'idem.store_key': await scopedKey('invoices', 'a'),
      'idem.scope_hash': scopeHash('invoices'),
      'idem.result.status': 200,
      'idem.renewals': 0,
      'idem.completion.attempts': 1,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.instrumentationScope.name).toBe('@idem/otel');

    const children = childrenOf(span, otel.spans());
    expect(children.map((c) => c.name).sort()).toEqual(['idem claim', 'idem complete']);
    const claim = children.find((c) => c.name === 'idem claim')!;
    const complete = children.find((c) => c.name === 'idem complete')!;
    expect(complete.attributes).toEqual({ 'idem.completion.attempts': 1 });
    // The phases lie within the request, the claim first, the completion last.
    expect(ms(claim.startTime)).toBe(ms(span.startTime));
    expect(ms(claim.endTime)).toBeLessThanOrEqual(ms(complete.startTime));
    expect(ms(complete.endTime)).toBe(ms(span.endTime));
  });

  it('without an active span, the request span is a root of its own', async () => {
    const { idem, otel } = setup();
    await idem.run('a', () => 1);
    const [span] = requestSpans(otel.spans());
    expect(span!.name).toBe('idem executed');
    expect(span!.parentSpanContext).toBeUndefined();
  });

  it('replay, mismatch, conflict, failure: one span each, with its outcome and no phases', async () => {
    const { idem, consume, idemUnder, otel } = setup();
    await consume('first', () => idem.run('k', () => 1, { payload: 'p' }));
    await consume('replay', () => idem.run('k', () => 2, { payload: 'p' }));
    expect(await consume('mismatch', () => settle(idem.run('k', () => 3, { payload: 'q' })))).toBe(
      'FINGERPRINT_MISMATCH',
    );
    const held = gate();
    const owner = consume('owner', () => idem.run('held', () => held.promise));
    expect(await consume('conflict', () => settle(idem.run('held', () => undefined)))).toBe(
      'REQUEST_IN_FLIGHT',
    );
    held.open();
    await owner;
    expect(
      await consume('failed', () => settle(idem.run('f', () => Promise.reject(new Error('boom'))))),
    ).toBe('threw');

    const key = await scopedKey('', 'k');
    const base = { 'idem.store_key': key, 'idem.scope_hash': scopeHash('') };
    expect(idemUnder('replay').name).toBe('idem replayed');
    expect(idemUnder('replay').attributes).toEqual({
      ...base,
      'idem.outcome': 'replayed',
      'idem.result.status': 200,
    });
    expect(idemUnder('mismatch').attributes).toEqual({ ...base, 'idem.outcome': 'mismatch' });
    expect(idemUnder('conflict').attributes).toEqual({
      'idem.store_key': await scopedKey('', 'held'),
      'idem.scope_hash': scopeHash(''),
      'idem.outcome': 'in_flight',
    });
    expect(idemUnder('owner').name).toBe('idem executed');
    const failed = idemUnder('failed');
    expect(failed.attributes['idem.outcome']).toBe('failed');
    expect(failed.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'the operation failed; its key was released for a retry',
    });
    for (const name of ['replay', 'mismatch', 'conflict', 'failed']) {
      expect(childrenOf(idemUnder(name), otel.spans())).toEqual([]);
      expect(idemUnder(name).status.code).toBe(
        name === 'failed' ? SpanStatusCode.ERROR : SpanStatusCode.UNSET,
      );
    }
  });

  it('ran, not stored: executed_not_stored, then response_not_stored for the retry', async () => {
    const { idem, consume, idemUnder } = setup({ maxResponseBytes: 4 });
    await consume('first', () => idem.run('big', () => 'a long result'));
    expect(await consume('retry', () => settle(idem.run('big', () => 'x')))).toBe(
      'RESPONSE_NOT_STORED',
    );
    expect(idemUnder('first').name).toBe('idem executed_not_stored');
    expect(idemUnder('first').attributes).toMatchObject({
      'idem.outcome': 'executed_not_stored',
      'idem.completion.attempts': 1,
    });
    expect(idemUnder('retry').name).toBe('idem response_not_stored');
    expect(idemUnder('retry').attributes).toMatchObject({
      'idem.outcome': 'response_not_stored',
      'idem.result.status': 200,
    });
  });

  it('store unavailable: an error span, and the failed call marked on the active span', async () => {
    const { idem, consume, idemUnder, spanNamed, broken } = setup();
    broken.failNext('claim', 1);
    expect(await consume('job', () => settle(idem.run('s', () => 1)))).toBe('STORE_UNAVAILABLE');
    const span = idemUnder('job');
    expect(span.name).toBe('idem store_unavailable');
    expect(span.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'the store failed or did not answer in time',
    });
    const events = spanNamed('job').events;
    expect(events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'idem.store_error',
        { 'idem.store.operation': 'claim', 'idem.store_key': await scopedKey('', 's') },
      ],
    ]);
  });

  it('a completion retried after a store failure: attempts on the span, finished in the background', async () => {
    const { idem, consume, otel, broken } = setup();
    broken.failNext('complete', 1);
    await consume('job', () => idem.run('r', () => 1));
    await eventually(() => expect(requestSpans(otel.spans())).toHaveLength(1));
    const [span] = requestSpans(otel.spans());
    expect(span!.name).toBe('idem executed');
    expect(span!.attributes['idem.completion.attempts']).toBe(2);
    const complete = childrenOf(span!, otel.spans()).find((c) => c.name === 'idem complete')!;
    expect(complete.attributes).toEqual({ 'idem.completion.attempts': 2 });
    // Still in the consumer's trace, though the consumer span ended first.
    expect(span!.parentSpanContext?.spanId).toBe(
      otel
        .spans()
        .find((s) => s.name === 'job')!
        .spanContext().spanId,
    );
    expect(await otel.sums('idem.completion.retries')).toEqual([{ attributes: {}, value: 1 }]);
  });

  it('a completion that never lands: an error span, a completion failure and its retries counted', async () => {
    // Long enough for several attempts, however slow the machine.
    const { idem, otel, broken } = setup({ leaseMs: 1_000 });
    broken.failNext('complete');
    await idem.run('never', () => 1);
    await eventually(() => expect(requestSpans(otel.spans())).toHaveLength(1));
    const [span] = requestSpans(otel.spans());
    expect(span!.name).toBe('idem executed_not_stored');
    expect(span!.status).toEqual({
      code: SpanStatusCode.ERROR,
      message:
        'the result could not be stored before the lease ran out: a retry runs the operation again',
    });
    const attempts = span!.attributes['idem.completion.attempts'] as number;
    expect(attempts).toBeGreaterThan(1);
    expect(childrenOf(span!, otel.spans())).toEqual([]);
    expect(await otel.sums('idem.completion.failures')).toEqual([{ attributes: {}, value: 1 }]);
    expect(total(await otel.sums('idem.completion.retries'))).toBe(attempts - 1);
    expect(
      total(await otel.sums('idem.store.errors'), { 'idem.store.operation': 'complete' }),
    ).toBe(attempts);
  });

  it('a lease lost to another request: an error span marked lease_lost, one loss counted', async () => {
    const { idem, otel, broken, consume, spanNamed } = setup({ leaseMs: 150 });
    broken.failNext('renew'); // renewals fail: the lease runs out while the operation runs
    const held = gate();
    const first = consume('holder', () =>
      idem.run('lease', () => held.promise.then(() => 'first')),
    );
    await new Promise((r) => setTimeout(r, 400));
    expect(await idem.run('lease', () => 'second')).toEqual({
      kind: 'executed',
      value: 'second',
    });
    held.open();
    expect(await first).toEqual({ kind: 'executed', value: 'first' });

    const spans = requestSpans(otel.spans());
    expect(spans.map((s) => s.name)).toEqual(['idem executed', 'idem executed_not_stored']);
    const lost = spans[1]!;
    expect(lost.attributes).toMatchObject({
      'idem.lease_lost': true,
      'idem.outcome': 'executed_not_stored',
    });
    expect(lost.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'the lease ran out and another request took the key while the operation ran',
    });
    expect(spans[0]!.attributes['idem.lease_lost']).toBeUndefined();
    expect(total(await otel.sums('idem.lease.losses'))).toBe(1);
    expect(total(await otel.sums('idem.executions'), { 'idem.result.stored': false })).toBe(1);
    expect(total(await otel.sums('idem.executions'), { 'idem.result.stored': true })).toBe(1);
    expect(
      total(await otel.sums('idem.store.errors'), { 'idem.store.operation': 'renew' }),
    ).toBeGreaterThan(0);
    // Renewals run on one timer for every lease, in whichever context started
    // it: their failures are counted, never put on a request's span.
    expect(spanNamed('holder').events).toEqual([]);
  });

  it('concurrent requests, several per key: each span lands under its own consumer span with its own outcome', async () => {
    const { idem, consume, idemUnder } = setup();
    const jobs = Array.from({ length: 24 }, (_, i) => ({ name: `job-${i}`, key: `k${i % 4}` }));
    const results = await Promise.all(
      jobs.map(({ name, key }) =>
        consume(name, () =>
          idem
            .run(key, () => new Promise((r) => setTimeout(() => r(name), 30)), { payload: key })
            .then(
              (outcome) => `idem ${outcome.kind}`,
              (error: unknown) =>
                isIdempotencyError(error, 'REQUEST_IN_FLIGHT') ? 'idem in_flight' : 'threw',
            ),
        ),
      ),
    );
    expect(results.filter((r) => r === 'idem executed')).toHaveLength(4); // one execution per key
    for (const [i, { name, key }] of jobs.entries()) {
      expect(idemUnder(name).name, name).toBe(results[i]);
      expect(idemUnder(name).attributes['idem.store_key']).toBe(await scopedKey('', key));
    }
  });
});

describe('metrics of the generic engine', () => {
  it('counts every outcome once, with stable attributes and no key or scope', async () => {
    const { idem, otel, broken } = setup({ maxResponseBytes: 64 });
    await idem.run('a', () => 1, { scope: 't1' });
    await idem.run('a', () => 1, { scope: 't1' });
    await idem.run('a', () => 1, { scope: 't1' });
    await settle(idem.run('a', () => 1, { scope: 't1', payload: 'other' }));
    const held = gate();
    const owner = idem.run('b', () => held.promise);
    await settle(idem.run('b', () => undefined));
    held.open();
    await owner;
    await settle(idem.run('c', () => Promise.reject(new Error('boom'))));
    await idem.run('d', () => 0, { shouldStore: () => false });
    await idem.run('e', () => 'x'.repeat(100));
    await settle(idem.run('e', () => 'x'));
    broken.failNext('claim', 1);
    await settle(idem.run('f', () => 1));

    expect(await otel.sums('idem.executions')).toEqual([
      { attributes: { 'idem.result.stored': true }, value: 2 },
      { attributes: { 'idem.result.stored': false }, value: 1 },
    ]);
    expect(await otel.sums('idem.replays')).toEqual([
      { attributes: { 'idem.result.stored': true }, value: 2 },
      { attributes: { 'idem.result.stored': false }, value: 1 },
    ]);
    expect(await otel.sums('idem.in_flight')).toEqual([{ attributes: {}, value: 1 }]);
    expect(await otel.sums('idem.mismatches')).toEqual([{ attributes: {}, value: 1 }]);
    expect(await otel.sums('idem.releases')).toEqual([
      { attributes: { 'idem.release.reason': 'failed' }, value: 1 },
      { attributes: { 'idem.release.reason': 'not_kept' }, value: 1 },
    ]);
    expect(await otel.sums('idem.store.errors')).toEqual([
      { attributes: { 'idem.store.operation': 'claim', 'error.type': '_OTHER' }, value: 1 },
    ]);
    expect(await otel.sums('idem.active_requests')).toEqual([{ attributes: {}, value: 0 }]);
    expect(await otel.sums('idem.lease.losses')).toEqual([]);
    expect(await otel.sums('idem.completion.retries')).toEqual([]);

    const durations = await otel.histogram('idem.request.duration');
    const byOutcome = Object.fromEntries(
      durations.map((p) => [p.attributes['idem.outcome'] as string, p.count]),
    );
    expect(byOutcome).toEqual({
      executed: 2,
      replayed: 2,
      mismatch: 1,
      in_flight: 1,
      failed: 1,
      executed_not_stored: 2,
      response_not_stored: 1,
      store_unavailable: 1,
    });
    for (const p of durations) expect(Object.keys(p.attributes)).toEqual(['idem.outcome']);

    // Every store call, by operation: 10 claims (one failed; b's duplicate is
    // refused in this process, from its owner's running execution), 3
    // completions, 2 releases.
    const store = await otel.histogram('idem.store.duration');
    const calls = Object.fromEntries(
      store.map((p) => [
        `${p.attributes['idem.store.operation']}${p.attributes['error.type'] ? ' failed' : ''}`,
        p.count,
      ]),
    );
    expect(calls).toEqual({ claim: 9, 'claim failed': 1, complete: 3, release: 2 });
    expect((await otel.descriptor('idem.store.duration'))?.unit).toBe('s');
    expect((await otel.descriptor('idem.request.duration'))?.unit).toBe('s');
    expect((await otel.descriptor('idem.executions'))?.unit).toBe('{execution}');
  });

  it('the scope hash only when asked for', async () => {
    const otel = sdk();
    const hooks = idemTelemetry({
      meterProvider: otel.meterProvider,
      spans: false,
      scopeHashInMetrics: true,
    });
    const idem = createIdempotency({ store: breakableStore().store, hooks, logger: false });
    await idem.run('a', () => 1, { scope: 'tenant-1' });
    await idem.run('a', () => 1, { scope: 'tenant-2' });
    expect(await otel.sums('idem.executions')).toEqual([
      {
        attributes: { 'idem.result.stored': true, 'idem.scope_hash': scopeHash('tenant-1') },
        value: 1,
      },
      {
        attributes: { 'idem.result.stored': true, 'idem.scope_hash': scopeHash('tenant-2') },
        value: 1,
      },
    ]);
    expect(otel.spans()).toEqual([]);
  });
});

it('spans and metrics follow the global providers by default', async () => {
  const otel = sdk();
  const hooks = idemTelemetry();
  trace.setGlobalTracerProvider(otel.tracerProvider);
  metrics.setGlobalMeterProvider(otel.meterProvider);
  try {
    const idem = createIdempotency({ store: breakableStore().store, hooks, logger: false });
    await idem.run('a', () => 1);
    expect(requestSpans(otel.spans()).map((s) => s.name)).toEqual(['idem executed']);
    expect(total(await otel.sums('idem.executions'))).toBe(1);
  } finally {
    trace.disable();
    metrics.disable();
  }
});
