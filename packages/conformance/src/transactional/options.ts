import type { Claim, Store } from '@idem/core/store';

/**
 * What the transactional suite needs from the author of a SQL store whose
 * `complete` commits the operation's own writes with the record, in one
 * database transaction (as `@idem/store-postgres` and `@idem/store-mysql`
 * do through `store.transaction(claim)`).
 *
 * The suite plays the application: it runs operations through idem's engine
 * (`createIdempotency({ store }).run`) and through the store's own methods,
 * and has each operation write one row through {@link write}. It then counts
 * the committed rows through {@link countWrites}, out of band, so a store
 * cannot pass by reporting what it believes it did.
 *
 * @example
 * ```ts
 * const writes = 'idem_tx_writes'; // CREATE TABLE idem_tx_writes (id text NOT NULL): no unique key
 * transactionalSuite({
 *   name: 'postgres',
 *   store,
 *   write: async (claim, id) => {
 *     const tx = await store.transaction(claim);
 *     await tx.query(`INSERT INTO ${writes} (id) VALUES ($1)`, [id]);
 *   },
 *   countWrites: async (id) =>
 *     (await admin.query(`SELECT count(*)::int AS n FROM ${writes} WHERE id = $1`, [id])).rows[0].n,
 *   breakTransaction: async (claim) => {
 *     const tx = await store.transaction(claim);
 *     await tx.query('SELECT 1/0').catch(() => {}); // PostgreSQL aborts the transaction
 *   },
 * });
 * ```
 */
export interface TransactionalSuiteOptions {
  /** Names the `describe` block. */
  readonly name: string;
  /**
   * The store under test, migrated and ready. One instance serves every
   * check; each check uses keys of its own, so old records do no harm.
   */
  readonly store: Store;
  /**
   * The operation's write: ask the store for the transaction of `claim` (your
   * store's `transaction(claim)`) and insert, in it, one row carrying `id`
   * into a table of the test's own. That table must take a second row with
   * the same `id` (no unique key on it): an operation that ran twice must
   * show as two rows, not as a constraint error.
   *
   * The suite calls it inside operations it runs, and after an operation
   * finished, where it must reject: a transaction opened then would never
   * be committed.
   */
  write(claim: Claim, id: string): Promise<void>;
  /**
   * How many rows carrying `id` are committed, read out of band: on a
   * connection of the test's own (an admin pool), never through the store
   * or one of its transactions.
   */
  countWrites(id: string): Promise<number>;
  /**
   * Make the open transaction of `claim` unable to commit, as a lost
   * connection or a failed statement would: kill its connection
   * (`pg_terminate_backend`, MySQL's `KILL`), or run a statement that fails
   * and swallow the error where that aborts the transaction (PostgreSQL).
   * Called inside an operation, after {@link write}; the operation then
   * returns as if all went well. Must not throw.
   */
  breakTransaction(claim: Claim): Promise<void>;
  /**
   * The lease the lost-lease check gives its first owner, in milliseconds;
   * the check then waits until another owner can take the key. Raise it for
   * a store whose clock is coarser than a second.
   * @default 500
   */
  readonly leaseMs?: number;
  /**
   * Parallel duplicates the concurrency check sends at most (it draws 2 to
   * this many), each holding a connection of the pool while it runs.
   * @default 8
   */
  readonly maxConcurrency?: number;
  /**
   * `{ 'check name': 'reason' }` to leave one check out, its reason shown in
   * the skipped test's title. A name that matches no check throws.
   */
  readonly skipChecks?: Readonly<Record<string, string>>;
  /**
   * Per check, in milliseconds.
   * @default 60000
   */
  readonly timeoutMs?: number;
  /** Runs once after the suite. */
  teardown?(): Promise<void> | void;
  /** A reason string skips the whole suite (a server that is not reachable). */
  readonly skip?: string | false | undefined;
}

/** One check of the transactional suite, as a plain async function. */
export interface TransactionalCheck {
  /** The check's name, as test titles show it and `skipChecks` takes it. */
  readonly name: string;
  /** Resolves when the store passes; throws a `ConformanceError` naming the broken rule. */
  run(): Promise<void>;
}
