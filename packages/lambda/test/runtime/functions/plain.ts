import { createIdempotency } from '@idem/core';
import type { Context } from 'aws-lambda';
import { invocationLeaseUntil } from '../../../src/lease.js';
import { leaseMarginMs, perform, storeFromEnv, type Work } from './world.js';

/**
 * A plain handler on core's `run()` with the invocation's lease cap: the
 * harness's own check, independent of the package's wrappers. The event is
 * `{ key }`.
 */
const idem = createIdempotency({ store: storeFromEnv() });

export async function handler(
  event: { key: string },
  context: Context,
): Promise<Work & { outcome: 'executed' | 'replayed' }> {
  const { kind, value } = await idem.run(event.key, () => perform(event.key, context), {
    scope: 'plain',
    leaseUntil: invocationLeaseUntil(context, leaseMarginMs),
  });
  return { outcome: kind, ...value };
}
