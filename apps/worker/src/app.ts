import type { Store } from '@idem/core';
import { type IdempotencyVariables, idempotency } from '@idem/hono';
import { Hono } from 'hono';
import type { WorkerEnv } from './store.js';

/** The app's Hono environment: the Worker's bindings and idem's context variable. */
export interface AppEnv {
  Bindings: WorkerEnv;
  Variables: IdempotencyVariables;
}

/**
 * The double-charge story on a Worker: `POST /payments` creates a charge
 * with a fresh id. With an `Idempotency-Key`, a retry gets the same charge
 * back (`Idempotent-Replayed: true`) instead of a second one.
 */
export function createApp(store: Store): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // No `scope` option: keys belong to the caller's `Authorization` header
  // (hashed). Mount idem after your authentication and pass the principal as
  // `scope` when tokens rotate faster than clients retry.
  app.use('/payments/*', idempotency<AppEnv>({ store }));
  app.post('/payments', async (c) => {
    const { amount } = await c.req.json<{ amount: number }>();
    return c.json({ id: `ch_${crypto.randomUUID()}`, amount }, 201);
  });
  app.get('/', (c) => c.text('POST /payments with an Idempotency-Key header\n'));
  return app;
}
