/**
 * `@idem/store-durable-objects` as workerd loads it (the `workerd` export
 * condition, which wrangler and @cloudflare/vite-plugin set): the same API as
 * ./index.ts, with {@link IdempotencyObject} extending workerd's
 * `DurableObject`, which JS RPC requires.
 *
 * @packageDocumentation
 */
import { DurableObject } from 'cloudflare:workers';
import { idempotencyObjectOn } from './object.js';
import type { IdempotencyObjectClass, IdempotencyObjectInstance } from './protocol.js';

export * from './api.js';

/**
 * The store's Durable Object class. Export it from your Worker's main module
 * (`export { IdempotencyObject } from '@idem/store-durable-objects'`) and bind
 * it in wrangler.toml under `new_sqlite_classes` (see the README).
 */
export const IdempotencyObject: IdempotencyObjectClass = idempotencyObjectOn(DurableObject);
/** An instance of {@link IdempotencyObject}. */
export type IdempotencyObject = IdempotencyObjectInstance;
