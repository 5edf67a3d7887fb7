/**
 * `@idem/otel`: idem's hooks as OpenTelemetry spans and metrics.
 *
 * ```ts
 * import { createIdempotency } from '@idem/core';
 * import { idemTelemetry } from '@idem/otel';
 *
 * const idem = createIdempotency({ store, hooks: idemTelemetry() });
 * ```
 *
 * @packageDocumentation
 */
export * from './names.js';
export type { IdemTelemetryOptions } from './options.js';
export { idemTelemetry } from './telemetry.js';
