import { bindTransaction, type Claim } from '../engine/context.js';
import { ConfigurationError, RolledBackError } from '../errors.js';
import type { OwnerResult } from './contract.js';

/**
 * What a SQL store knows about its driver, for {@link claimTransactions}.
 * `Tx` is the driver's transaction handle (a `pg` PoolClient inside `BEGIN`,
 * a `mysql2` PoolConnection inside `START TRANSACTION`); `Completion` is
 * whatever the store's completion statement needs (its SQL and values).
 */
export interface TransactionDriver<Tx, Completion> {
  /** The store's factory name, as error messages name it (`'postgresStore'`). */
  readonly name: string;
  /**
   * Check a connection out and begin a transaction on it. A failure reaches
   * the operation that asked for the transaction.
   */
  begin(): Promise<Tx>;
  /**
   * Complete the record inside `tx` with `completion` and commit, then give
   * the connection back. Resolve `true` once committed; `false` when the
   * completion matched no record the token owns (the lease ran out and
   * another request took the key), after rolling back. Throw when the
   * commit failed (a lost connection, a transaction that failed earlier):
   * the operation's writes were not kept.
   */
  commit(tx: Tx, completion: Completion): Promise<boolean>;
  /** Roll `tx` back and give its connection back (destroyed if the rollback fails). */
  rollback(tx: Tx): Promise<void>;
}

/**
 * The transactions a SQL store hands to operations, by claim: the part of
 * "complete inside the operation's own transaction" that is the same for
 * every driver. See {@link claimTransactions}.
 */
export interface ClaimTransactions<Tx, Completion> {
  /**
   * `store.transaction(claim)`: the claim's transaction, begun on the first
   * call (and {@link bindTransaction} called, so the engine waits for the
   * commit before it reports success); later calls with the claim return the
   * same one. Throws a `ConfigurationError` naming the fix for a missing,
   * malformed or unprotected claim, and for a claim whose transaction was
   * already committed or rolled back.
   */
  bind(claim: Claim | undefined): Promise<Tx>;
  /**
   * In the store's `complete`: commit the record (`completion`) with the
   * transaction `token` opened for `key`. Resolves `'ok'` once committed,
   * `undefined` when that token has no transaction for that key (complete
   * the record on its own then, as when its `begin` failed); otherwise rejects with `RolledBackError`
   * (nothing was kept: a failed commit, or a lease lost to another owner).
   */
  commit(key: string, token: string, completion: Completion): Promise<OwnerResult | undefined>;
  /**
   * In the store's `release`: roll back the transaction `token` opened for
   * `key`, if any. Never throws: the record's release goes on either way.
   */
  rollback(key: string, token: string): Promise<void>;
}

interface Open<Tx> {
  readonly key: string;
  readonly claim: Claim;
  readonly tx: Promise<Tx>;
}

/**
 * The bookkeeping of a SQL store whose `complete` commits the operation's own
 * writes with its record, in one database transaction.
 *
 * The store's `transaction(claim)` calls {@link ClaimTransactions.bind}:
 * the first call begins a transaction and binds it to the claim (by owner
 * token), later calls return the same one. The store's `complete` calls
 * {@link ClaimTransactions.commit} and its `release`
 * {@link ClaimTransactions.rollback}: each takes the transaction back by
 * store key and owner token, so a transaction is committed or rolled back
 * once, only by the claim that opened it, and never handed to another
 * token. Once taken back, the claim cannot bind again (its operation has
 * finished; a new transaction would never be committed). A transaction whose
 * `begin` failed is forgotten, so the operation's error is its only trace.
 *
 * Driver-specific work (checking out a connection, the completion
 * statement, COMMIT, ROLLBACK, destroying a broken connection) stays in the
 * store's {@link TransactionDriver}. Uses no Node-only API.
 *
 * @example
 * ```ts
 * const tx = claimTransactions<PoolClient, unknown[]>({
 *   name: 'postgresStore',
 *   begin: () => beginOnPool(pool),
 *   commit: async (client, values) => {
 *     const completed = (await client.query(COMPLETE, values)).rowCount === 1;
 *     await client.query(completed ? 'COMMIT' : 'ROLLBACK');
 *     client.release();
 *     return completed;
 *   },
 *   rollback: async (client) => { await client.query('ROLLBACK'); client.release(); },
 * });
 * // in the store:
 * //   transaction: (claim) => tx.bind(claim),
 * //   complete: (await tx.commit(key, token, values)) ?? completeAlone(...),
 * //   release:  await tx.rollback(key, token); then delete the record
 * ```
 */
export function claimTransactions<Tx, Completion>(
  driver: TransactionDriver<Tx, Completion>,
): ClaimTransactions<Tx, Completion> {
  const { name } = driver;
  // Open transactions by owner token, until commit or rollback takes them back.
  const open = new Map<string, Open<Tx>>();
  // Claims whose transaction was taken back: their operation has finished.
  const finished = new WeakSet<Claim>();

  function take(key: string, token: string): Promise<Tx | undefined> | undefined {
    const entry = open.get(token);
    if (entry === undefined || entry.key !== key) return undefined;
    open.delete(token);
    finished.add(entry.claim);
    // A transaction that never began has nothing to commit or roll back.
    return entry.tx.catch(() => undefined);
  }

  return {
    async bind(claim) {
      if (claim === undefined) {
        throw new ConfigurationError(
          `${name}.transaction: idem passed this request through (its method is not covered, or it carried no key while keys are optional), so there is no record to commit with. Cover the route with idem, or run your queries on the pool.`,
        );
      }
      if (typeof claim?.token !== 'string' || typeof claim.storeKey !== 'string') {
        throw new ConfigurationError(
          `${name}.transaction: pass the claim idem gave the operation: run()'s argument, Hono's c.get('idempotency'), Express's req.idempotency or Fastify's request.idempotency.`,
        );
      }
      if (!claim.protected || !claim.token) {
        throw new ConfigurationError(
          `${name}.transaction: this execution is unprotected (the store failed and failOpen let it run), so there is no record to commit with. Check claim.protected and run your queries on the pool, or set failOpen: false.`,
        );
      }
      const entry = open.get(claim.token);
      if (entry !== undefined && entry.key === claim.storeKey) return entry.tx;
      if (entry !== undefined || finished.has(claim)) {
        throw new ConfigurationError(
          `${name}.transaction: this claim's transaction was already committed or rolled back (its operation finished). Call store.transaction(claim) while the operation runs.`,
        );
      }
      const tx = driver.begin();
      const opened: Open<Tx> = { key: claim.storeKey, claim, tx };
      open.set(claim.token, opened);
      tx.catch(() => {
        if (open.get(claim.token) === opened) open.delete(claim.token);
      });
      // The engine then reports the operation's success only once the commit is confirmed.
      bindTransaction(claim);
      return tx;
    },

    async commit(key, token, completion) {
      const taken = take(key, token);
      if (taken === undefined) return undefined;
      const tx = await taken;
      // BEGIN failed and the operation saw that error: nothing ran in a
      // transaction, so the record completes on its own.
      if (tx === undefined) return undefined;
      let cause: unknown;
      try {
        if (await driver.commit(tx, completion)) return 'ok';
        cause = new Error('The lease ran out before completion; another request owns the key now.');
      } catch (error) {
        cause = error;
      }
      throw new RolledBackError(cause);
    },

    async rollback(key, token) {
      const tx = await take(key, token);
      if (tx === undefined) return;
      try {
        await driver.rollback(tx);
      } catch {
        // The driver gave the connection up; the transaction died with it.
      }
    },
  };
}
