import { combineHooks, type IdempotencyHooks } from '@idem/core';
import { metricHooks } from './metrics.js';
import { type IdemTelemetryOptions, resolveTelemetryOptions } from './options.js';
import { spanHooks } from './spans.js';

/**
 * OpenTelemetry for idem: hooks that trace every protected request as a span
 * `idem <outcome>` (with its claim and completion as children) under the span
 * active when its outcome is known, and count what idem did (executions,
 * replays, in-flight duplicates, mismatches, store latency and errors, lease losses,
 * completion retries). Pass them as `hooks`, or combine them with your own
 * with `combineHooks` from `@idem/core`.
 *
 * @example
 * ```ts
 * const idem = createIdempotency({ store, hooks: idemTelemetry() });
 * ```
 */
export function idemTelemetry(options: IdemTelemetryOptions = {}): IdempotencyHooks {
  const resolved = resolveTelemetryOptions(options);
  const parts: IdempotencyHooks[] = [];
  if (resolved.spans) parts.push(spanHooks(resolved.tracer));
  if (resolved.metrics) parts.push(metricHooks(resolved.meter, resolved.scopeHashInMetrics));
  return parts.length === 1 ? parts[0]! : combineHooks(...parts);
}
