/**
 * The Worker entry (`main` in wrangler.toml): Hono with idem, on Durable
 * Objects, D1, DynamoDB over `fetch`, or the memory store (see ./store.ts).
 * Web APIs only: no `nodejs_compat` flag.
 */
import type { ExecutionContext, Hono } from 'hono';
import { type AppEnv, createApp } from './app.js';
import { storeFor, type WorkerEnv } from './store.js';

// The Durable Object class of @idem/store-durable-objects: workerd finds the
// classes a binding names among the main module's exports.
export { IdempotencyObject } from '@idem/store-durable-objects';

// One app, and so one store client, per isolate: bindings arrive with the
// first request, and reusing the client across requests is what Workers expect.
let app: Hono<AppEnv> | undefined;

export default {
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Response | Promise<Response> {
    app ??= createApp(storeFor(env));
    return app.fetch(request, env, ctx);
  },
};
