/**
 * Compiled by `tsc -b` (pnpm typecheck), never run: the binding types users
 * have, from @cloudflare/workers-types (what `wrangler types` generates is
 * the same declaration), fit the store's structural types.
 */
import type {
  DurableObjectNamespace,
  DurableObjectState,
} from '@cloudflare/workers-types/index.js';
import {
  type DurableObjectStateLike,
  type DurableObjectStore,
  durableObjectStore,
} from '../src/index.js';

export function fromBinding(env: { IDEMPOTENCY: DurableObjectNamespace }): DurableObjectStore {
  return durableObjectStore({ namespace: env.IDEMPOTENCY });
}

export function objectState(ctx: DurableObjectState): DurableObjectStateLike {
  return ctx;
}
