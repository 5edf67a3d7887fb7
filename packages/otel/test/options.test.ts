import { readFileSync } from 'node:fs';
import {
  combineHooks,
  createIdempotency,
  type FinishedOutcome,
  type IdempotencyHooks,
  isIdempotencyError,
} from '@idem/core';
import { describe, expect, it } from 'vitest';
import { type IdemTelemetryOptions, idemTelemetry } from '../src/index.js';
import { breakableStore, requestSpans, sdk, total } from './harness.js';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

function refused(options: unknown): string {
  try {
    idemTelemetry(options as IdemTelemetryOptions);
  } catch (error) {
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('options', () => {
  it('refuses what it cannot use, naming the fix', () => {
    expect(refused({ tracerprovider: {} })).toMatch(
      /unknown option "tracerprovider".*tracerProvider/,
    );
    expect(refused({ tracerProvider: {} })).toBe(
      `idem: idemTelemetry(): option "tracerProvider" must be an OpenTelemetry TracerProvider (with getTracer()), such as the NodeSDK's or new BasicTracerProvider(...), or left out for the global one, got an object.`,
    );
    expect(refused({ meterProvider: 'global' })).toMatch(
      /option "meterProvider" must be an OpenTelemetry MeterProvider \(with getMeter\(\)\)/,
    );
    expect(refused({ spans: 'no' })).toBe(
      'idem: idemTelemetry(): option "spans" must be true or false, got "no".',
    );
    expect(refused({ metrics: 0 })).toMatch(/option "metrics" must be true or false, got 0/);
    expect(refused({ scopeHashInMetrics: 'yes' })).toMatch(
      /option "scopeHashInMetrics" must be true or false/,
    );
    expect(refused({ name: '' })).toBe(
      'idem: idemTelemetry(): option "name" must be a non-empty string, got "".',
    );
    expect(refused({ version: 1 })).toMatch(/option "version" must be a string, got 1/);
    expect(refused(null)).toMatch(/pass an options object/);
    // The name first, before any value: a typo, named as the option it was meant to be.
    expect(refused({ spanz: 'no', name: '' })).toBe(
      'idem: idemTelemetry(): unknown option "spanz" (did you mean "spans"?); the options are tracerProvider, meterProvider, name, version, spans, metrics, scopeHashInMetrics.',
    );
  });

  it("names the instrumentation scope @idem/otel with this package's version, or as told", async () => {
    for (const [options, scope] of [
      [{}, { name: '@idem/otel', version }],
      [
        { name: 'payments', version: '7.1.0' },
        { name: 'payments', version: '7.1.0' },
      ],
    ] as const) {
      const otel = sdk();
      const hooks = idemTelemetry({
        ...options,
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
      });
      const idem = createIdempotency({ store: breakableStore().store, hooks, logger: false });
      await idem.run('a', () => 1);
      const [span] = requestSpans(otel.spans());
      expect(span!.instrumentationScope).toMatchObject(scope);
      expect(await otel.meterScopes()).toEqual([scope]);
    }
  });

  it('spans only, metrics only, or nothing at all', async () => {
    for (const [spans, metrics] of [
      [true, false],
      [false, true],
      [false, false],
    ]) {
      const otel = sdk();
      const hooks = idemTelemetry({
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
        spans,
        metrics,
      });
      if (!spans && !metrics) expect(hooks).toEqual({});
      const idem = createIdempotency({ store: breakableStore().store, hooks, logger: false });
      await idem.run('a', () => 1);
      expect(requestSpans(otel.spans())).toHaveLength(spans ? 1 : 0);
      expect(total(await otel.sums('idem.executions'))).toBe(metrics ? 1 : 0);
    }
  });

  it("runs beside the app's own hooks through combineHooks, and leaves storeError to them", async () => {
    const otel = sdk();
    const mine: FinishedOutcome[] = [];
    const errors: string[] = [];
    const own: IdempotencyHooks = {
      finished: (event) => mine.push(event.outcome),
      storeError: (event) => errors.push(event.operation),
    };
    const telemetry = idemTelemetry({
      tracerProvider: otel.tracerProvider,
      meterProvider: otel.meterProvider,
    });
    // Handling storeError replaces idem's own log of store errors: telemetry leaves it alone.
    expect(telemetry.storeError).toBeUndefined();
    const broken = breakableStore();
    const idem = createIdempotency({
      store: broken.store,
      hooks: combineHooks(telemetry, own),
      logger: false,
    });
    await idem.run('a', () => 1);
    broken.failNext('claim', 1);
    await idem.run('b', () => 1).catch(() => undefined);
    expect(mine).toEqual(['executed', 'store_unavailable']);
    expect(errors).toEqual(['claim']);
    expect(requestSpans(otel.spans()).map((s) => s.name)).toEqual([
      'idem executed',
      'idem store_unavailable',
    ]);
  });

  it('idem keeps logging store errors with telemetry on', async () => {
    const lines: string[] = [];
    const logger = { warn: (message: string) => void lines.push(message) };
    const broken = breakableStore();
    const idem = createIdempotency({ store: broken.store, hooks: idemTelemetry(), logger });
    broken.failNext('claim', 1);
    await idem.run('a', () => 1).catch(() => undefined);
    expect(lines).toEqual([expect.stringContaining('idem: the store failed during claim')]);
  });
});
