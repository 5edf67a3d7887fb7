import {
  boolean,
  defineOptions,
  nonEmptyString,
  option,
  type Rule,
  rule,
  string,
} from '@idem/core/store';
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

function lazy<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

/** An OpenTelemetry provider: what it is, the method idem calls, and where to get one. */
function provider<T>(what: string, method: string, example: string): Rule<T> {
  return rule(
    `an OpenTelemetry ${what} (with ${method}()), such as ${example}, or left out for the global one`,
    (v) => typeof (v as Record<string, unknown> | null)?.[method] === 'function',
  );
}

const resolveOptions = defineOptions({
  tracerProvider: option(
    provider<TracerProvider>(
      'TracerProvider',
      'getTracer',
      "the NodeSDK's or new BasicTracerProvider(...)",
    ),
  ),
  meterProvider: option(
    provider<MeterProvider>('MeterProvider', 'getMeter', 'new MeterProvider({ readers })'),
  ),
  name: option(nonEmptyString, '@idem/otel'),
  version: option(string, VERSION),
  spans: option(boolean, true),
  metrics: option(boolean, true),
  scopeHashInMetrics: option(boolean, false),
});

/** Check the options, naming the fix of a wrong one. */
export function resolveTelemetryOptions(options: IdemTelemetryOptions = {}): ResolvedTelemetry {
  const o = resolveOptions(options, 'idem: idemTelemetry()');
  const { tracerProvider, meterProvider, name, version } = o;
  return {
    tracer: lazy(() => (tracerProvider ?? trace.getTracerProvider()).getTracer(name, version)),
    meter: lazy(() => (meterProvider ?? metrics.getMeterProvider()).getMeter(name, version)),
    spans: o.spans,
    metrics: o.metrics,
    scopeHashInMetrics: o.scopeHashInMetrics,
  };
}
