/**
 * `@idem/store-durable-objects`: the store on Durable Objects and the object
 * class it runs on. This entry is the one Node and other non-workerd
 * runtimes load (tests driving miniflare's bindings, tooling): its
 * {@link IdempotencyObject} refuses to be constructed there. Bundlers for
 * Workers pick the `workerd` entry (./workerd.ts), whose class extends
 * workerd's `DurableObject`.
 *
 * @packageDocumentation
 */
import { ConfigurationError } from '@idem/core/store';
import { idempotencyObjectOn } from './object.js';
import type { IdempotencyObjectClass, IdempotencyObjectInstance } from './protocol.js';

export * from './api.js';

/** Stands in for workerd's `DurableObject` outside workerd. */
abstract class OutsideWorkerd {
  constructor() {
    throw new ConfigurationError(
      "IdempotencyObject was loaded from @idem/store-durable-objects' entry for other runtimes, so it cannot answer RPC. Bundle your Worker with the workerd export condition (wrangler and @cloudflare/vite-plugin do; with esbuild, conditions: ['workerd', 'worker', 'browser']).",
    );
  }
}

/**
 * The store's Durable Object class. Export it from your Worker's main module
 * (`export { IdempotencyObject } from '@idem/store-durable-objects'`) and bind
 * it in wrangler.toml under `new_sqlite_classes` (see the README).
 */
export const IdempotencyObject: IdempotencyObjectClass = idempotencyObjectOn(OutsideWorkerd);
/** An instance of {@link IdempotencyObject}. */
export type IdempotencyObject = IdempotencyObjectInstance;
