import { ConfigurationError } from '@idem/core';
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
