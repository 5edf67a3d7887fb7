import { ConfigurationError, type Idempotency } from '@idem/core';
import { DEFAULT_LEASE_MARGIN_MS } from './lease.js';

/**
 * The `leaseMarginMs` option, checked: a finite number of milliseconds, 0 or
 * more; {@link DEFAULT_LEASE_MARGIN_MS} when absent. Every entry point of the
 * package reads it here, so it has one rule and one message.
 */
export function leaseMarginOf(value: unknown, where: string): number {
  if (value === undefined) return DEFAULT_LEASE_MARGIN_MS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(
      `${where}: option "leaseMarginMs" must be a number of milliseconds, 0 or more (how long past the invocation's deadline its lease may hold, such as 1000), got ${JSON.stringify(value) ?? String(value)}.`,
    );
  }
  return value;
}

/**
 * The options of a wrapper that are not its own (`own`, `idem` among them):
 * the engine's, for `createIdempotency()`. They may not come with a shared
 * engine (`idem`), whose options are its own: that is refused, naming them.
 */
export function engineOptionsOf(
  options: object,
  own: ReadonlySet<string>,
  shared: Idempotency | undefined,
  where: string,
): Record<string, unknown> {
  const engine = Object.fromEntries(Object.entries(options).filter(([name]) => !own.has(name)));
  const names = Object.keys(engine);
  if (shared !== undefined && names.length > 0) {
    throw new ConfigurationError(
      `${where}: options ${names.join(', ')} belong to the engine: pass them to createIdempotency() and share it as "idem", or leave "idem" out and pass them here; not both.`,
    );
  }
  return engine;
}
