import type { SpecParts } from '@idem/test-runtimes';

/**
 * What the test tells the harness Worker (./harness-worker.ts) about a test
 * server. Kept apart from the Worker module, which may export only handlers.
 */

/**
 * How many test servers can run at once (the suite starts at most three per
 * check). The Worker exports one entrypoint per slot: `slot0`, `slot1`, ….
 */
export const SLOTS = 4;

/** Where a test server's store lives. */
export type StoreSpec =
  | { readonly kind: 'memory' }
  | { readonly kind: 'dynamodb'; readonly tableName: string }
  /** @idem/store-d1 on the `IDEM_DB` binding. */
  | { readonly kind: 'd1'; readonly table: string }
  /** @idem/store-durable-objects on the `IDEMPOTENCY` binding. */
  | { readonly kind: 'durable-objects' }
  /** A store object in the test process, called over the service binding. */
  | { readonly kind: 'node' };

/**
 * One test server, as the test registers it: the parts every runtime's
 * bridge sends (tools/test-runtimes), with where its store lives in workerd.
 */
export interface ServerSpec extends SpecParts {
  readonly store: StoreSpec;
}

export type { Answers } from '@idem/test-runtimes';

/** The D1 table of ./store-worker.ts (created by the test). */
export const STORE_TABLE = 'idem_store_conformance';
