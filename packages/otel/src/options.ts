import { ConfigurationError } from '@idem/core';
import { refuseUnknownOptions } from '@idem/core/store';
import {
  type Meter,
  type MeterProvider,
  metrics,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';

/** Options of {@link idemTelemetry}. */
export interface IdemTelemetryOptions {
  /**
   * Where spans go.
   * @default the global tracer provider (`trace.getTracerProvider()` of `@opentelemetry/api`)
   */
  readonly tracerProvider?: TracerProvider;
  /**
   * Where metrics go.
   * @default the global meter provider, looked up at the first event (so the
   * SDK may be started after `idemTelemetry()` was called)
   */
  readonly meterProvider?: MeterProvider;
  /**
   * The instrumentation scope's name, as tracers and meters are named.
   * @default '@idem/otel'
   */
  readonly name?: string;
  /**
   * The instrumentation scope's version.
   * @default this package's version
   */
  readonly version?: string;
  /**
   * Record spans. `false` records metrics only.
   * @default true
   */
  readonly spans?: boolean;
  /**
   * Record metrics. `false` records spans only.
   * @default true
   */
  readonly metrics?: boolean;
  /**
   * Add `idem.scope_hash` to the request metrics, to break them down by
   * tenant. One series per tenant and outcome: turn it on only with few
   * tenants, or a backend that copes. Spans always carry it.
   * @default false
   */
  readonly scopeHashInMetrics?: boolean;
}

/** The options in force: providers looked up, defaults filled in. */
export interface ResolvedTelemetry {
  /** The tracer, made at the first span. */
  readonly tracer: () => Tracer;
  /** The meter, made at the first metric. */
  readonly meter: () => Meter;
  readonly spans: boolean;
  readonly metrics: boolean;
  readonly scopeHashInMetrics: boolean;
}

// Replaced by the build with package.json's version; absent when the tests
// run on the sources (then the scope has no version).
declare const __IDEM_OTEL_VERSION__: string | undefined;
const VERSION = typeof __IDEM_OTEL_VERSION__ === 'string' ? __IDEM_OTEL_VERSION__ : undefined;

const KNOWN = [
  'tracerProvider',
  'meterProvider',
  'name',
  'version',
  'spans',
  'metrics',
  'scopeHashInMetrics',
];

function lazy<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

function boolean(options: IdemTelemetryOptions, name: keyof IdemTelemetryOptions, def: boolean) {
  const value = options[name] ?? def;
  if (typeof value !== 'boolean') {
    throw new ConfigurationError(
      `idemTelemetry: ${name} must be true or false, got ${typeof value}.`,
    );
  }
  return value;
}

function provider<T>(value: T | undefined, method: string, name: string, example: string): T {
  if (value !== undefined && typeof (value as Record<string, unknown>)?.[method] !== 'function') {
    throw new ConfigurationError(
      `idemTelemetry: ${name} must be an OpenTelemetry ${name[0]!.toUpperCase()}${name.slice(1)} (with ${method}()), such as ${example}; leave it out to use the global one.`,
    );
  }
  return value as T;
}

/** Check the options, naming the fix of a wrong one. */
export function resolveTelemetryOptions(options: IdemTelemetryOptions = {}): ResolvedTelemetry {
  refuseUnknownOptions(options, KNOWN, 'idemTelemetry()');
  const tracerProvider = provider(
    options.tracerProvider,
    'getTracer',
    'tracerProvider',
    "the NodeSDK's or `new BasicTracerProvider(...)`",
  );
  const meterProvider = provider(
    options.meterProvider,
    'getMeter',
    'meterProvider',
    '`new MeterProvider({ readers })`',
  );
  const name = options.name ?? '@idem/otel';
  if (typeof name !== 'string' || name === '') {
    throw new ConfigurationError(
      'idemTelemetry: name must be a non-empty string, such as "@idem/otel".',
    );
  }
  const version = options.version ?? VERSION;
  if (version !== undefined && typeof version !== 'string') {
    throw new ConfigurationError(`idemTelemetry: version must be a string, got ${typeof version}.`);
  }
  return {
    tracer: lazy(() => (tracerProvider ?? trace.getTracerProvider()).getTracer(name, version)),
    meter: lazy(() => (meterProvider ?? metrics.getMeterProvider()).getMeter(name, version)),
    spans: boolean(options, 'spans', true),
    metrics: boolean(options, 'metrics', true),
    scopeHashInMetrics: boolean(options, 'scopeHashInMetrics', false),
  };
}
