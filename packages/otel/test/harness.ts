import type { Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import { type Attributes, context, type HrTime } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  DataPointType,
  type HistogramMetricData,
  MeterProvider,
  type MetricDescriptor,
  MetricReader,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll } from 'vitest';

/** A reader that exports nothing: the test collects when it wants to look. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** A point of a counter or up-down counter. */
export interface SumPoint {
  readonly attributes: Attributes;
  readonly value: number;
}

/** A point of a histogram. */
export interface HistogramPoint {
  readonly attributes: Attributes;
  readonly count: number;
  readonly sum: number;
}

/** The SDK's providers, and what they recorded. */
export interface Sdk {
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;
  /** Every span ended so far. */
  spans(): ReadableSpan[];
  /** The points of a counter or up-down counter (empty when it never counted). */
  sums(name: string): Promise<SumPoint[]>;
  /** The points of a histogram. */
  histogram(name: string): Promise<HistogramPoint[]>;
  /** The descriptor (unit, description) of an instrument that recorded something. */
  descriptor(name: string): Promise<MetricDescriptor | undefined>;
  /** The instrumentation scopes that recorded metrics. */
  meterScopes(): Promise<Array<{ readonly name: string; readonly version?: string | undefined }>>;
}

/**
 * The OpenTelemetry SDK as an app sets it up, exporting to memory: a tracer
 * provider with a simple processor and an in-memory exporter, a meter
 * provider with a reader collected on demand.
 */
export function sdk(): Sdk {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });

  async function metric(name: string) {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw errors[0];
    const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    return all.find((m) => m.descriptor.name === name);
  }

  return {
    tracerProvider,
    meterProvider,
    spans: () => exporter.getFinishedSpans(),
    async sums(name: string): Promise<SumPoint[]> {
      const found = (await metric(name)) as SumMetricData | undefined;
      if (found === undefined) return [];
      if (found.dataPointType !== DataPointType.SUM) throw new Error(`${name} is not a sum`);
      return found.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value }));
    },
    async histogram(name: string): Promise<HistogramPoint[]> {
      const found = (await metric(name)) as HistogramMetricData | undefined;
      if (found === undefined) return [];
      if (found.dataPointType !== DataPointType.HISTOGRAM)
        throw new Error(`${name} is not a histogram`);
      return found.dataPoints.map((p) => ({
        attributes: p.attributes,
        count: p.value.count,
        sum: p.value.sum ?? 0,
      }));
    },
    async descriptor(name) {
      return (await metric(name))?.descriptor;
    },
    async meterScopes() {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics.map(({ scope }) => ({
        name: scope.name,
        version: scope.version,
      }));
    },
  };
}

/** Total of a counter's points whose attributes include `match`. */
export function total(points: readonly SumPoint[], match: Attributes = {}): number {
  return points
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + p.value, 0);
}

/**
 * Propagate context through async calls, as every Node app with tracing
 * does (the NodeSDK registers this same manager), for the file's tests.
 */
export function withContextManager(): void {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => {
    manager.enable();
    context.setGlobalContextManager(manager);
  });
  afterAll(() => {
    context.disable();
  });
}

/** Milliseconds since the epoch, from an OpenTelemetry time. */
export const ms = ([s, ns]: HrTime): number => s * 1000 + ns / 1e6;

/** A span's children among `spans`. */
export function childrenOf(span: ReadableSpan, spans: readonly ReadableSpan[]): ReadableSpan[] {
  const id = span.spanContext().spanId;
  return spans.filter((s) => s.parentSpanContext?.spanId === id);
}

/** The request spans (`idem <outcome>`) among `spans`. */
export function requestSpans(spans: readonly ReadableSpan[]): ReadableSpan[] {
  return spans.filter(
    (s) => s.name !== 'idem claim' && s.name !== 'idem complete' && s.name.startsWith('idem '),
  );
}

type Operation = 'claim' | 'complete' | 'release' | 'renew' | 'read';

/** A store that fails on demand. */
export interface BreakableStore {
  readonly store: Store;
  /** Make the next `times` calls of `operation` fail (for ever by default). */
  failNext(operation: Operation, times?: number): void;
  heal(): void;
}

/** A memory store whose operations can be made to fail, as a store whose server went away. */
export function breakableStore(): BreakableStore {
  const inner = memoryStore();
  const failing = new Map<Operation, number>();
  const fail = <R>(operation: Operation, run: () => Promise<R>): Promise<R> => {
    const left = failing.get(operation) ?? 0;
    if (left > 0) {
      failing.set(operation, left - 1);
      const error = Object.assign(new Error(`connect ECONNREFUSED (${operation})`), {
        code: 'ECONNREFUSED',
      });
      return Promise.reject(error);
    }
    return run();
  };
  const store: Store = {
    claim: (key, request) => fail('claim', () => inner.claim(key, request)),
    complete: (key, token, response, ttlMs) =>
      fail('complete', () => inner.complete(key, token, response, ttlMs)),
    release: (key, token) => fail('release', () => inner.release(key, token)),
    renew: (key, token, leaseMs) => fail('renew', () => inner.renew(key, token, leaseMs)),
    read: (key) => fail('read', () => inner.read(key)),
  };
  return {
    store,
    failNext(operation, times = Number.POSITIVE_INFINITY) {
      failing.set(operation, times);
    },
    heal() {
      failing.clear();
    },
  };
}

/** Wait until `check` passes (background completions finish after the response). */
export async function eventually(check: () => void | Promise<void>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
