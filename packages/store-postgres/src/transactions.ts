import {
  bindTransaction,
  ConfigurationError,
  type ExecutionContext,
  type OwnerResult,
  RolledBackError,
} from '@idem/core';
import type { Pool, PoolClient } from 'pg';

/** Connections tried for a transaction whose BEGIN fails (a connection that died idle). */
const BEGIN_ATTEMPTS = 3;

/** The transactions the store hands to handlers, by owner token. */
export interface Transactions {
  /** `store.transaction(context)`: the client of the context's transaction, begun on first call. */
  bind(context: ExecutionContext | undefined): Promise<PoolClient>;
  /** The open transaction of `token` for `key`, taken out of the registry; `undefined` if none. */
  take(key: string, token: string): Promise<PoolClient | undefined>;
  /** Complete the record in the transaction (`complete` with `values`) and commit; else `RolledBackError`. */
  commit(client: PoolClient, complete: string, values: unknown[]): Promise<OwnerResult>;
  /** Roll the transaction back and give the client back. */
  rollback(client: PoolClient): Promise<void>;
}

function ignore(): void {}

export function transactions(pool: Pool): Transactions {
  // Transactions opened by bind(), by owner token, until complete or release.
  const open = new Map<string, { key: string; client: Promise<PoolClient> }>();

  /**
   * Check a client out with our 'error' listener already attached. It goes on
   * inside the pool's callback, synchronously: the pool can hand over a client
   * in the middle of the socket read that also carries its backend's FATAL
   * error (pg_terminate_backend, failover, restart), and a listener added
   * after `await pool.connect()` comes a microtask too late: the 'error'
   * event would find none and crash the process.
   */
  function checkout(): Promise<PoolClient> {
    return new Promise((resolve, reject) => {
      pool.connect((error, client) => {
        if (error || !client) return reject(error ?? new Error('pg Pool gave no client'));
        client.on('error', ignore); // the next query on a dead client fails instead
        resolve(client);
      });
    });
  }

  function finish(client: PoolClient, error?: unknown): void {
    client.off('error', ignore);
    try {
      // An error destroys the connection: its transaction state is unknown.
      client.release(error === undefined ? undefined : error instanceof Error ? error : true);
    } catch {
      // Already released by the caller against our advice: nothing to return.
    }
  }

  async function begin(token: string): Promise<PoolClient> {
    try {
      for (let attempt = 1; ; attempt++) {
        const client = await checkout();
        try {
          await client.query('BEGIN');
          return client;
        } catch (error) {
          finish(client, error);
          // BEGIN failed on a connection that died idle in the pool: nothing
          // ran on it yet, so a fresh one is safe.
          if (attempt >= BEGIN_ATTEMPTS) throw error;
        }
      }
    } catch (error) {
      open.delete(token);
      throw error;
    }
  }

  return {
    async bind(context) {
      if (context === undefined) {
        throw new ConfigurationError(
          'postgresStore.transaction: idem passed this request through (its method is not covered, or it carried no key while keys are optional), so there is no record to commit with. Cover the route with idem, or run your queries on the pool.',
        );
      }
      if (typeof context?.token !== 'string') {
        throw new ConfigurationError(
          "postgresStore.transaction: pass the execution context idem gave the operation: run()'s argument, Hono's c.get('idempotency'), Express's req.idempotency or Fastify's request.idempotency.",
        );
      }
      if (!context.protected || !context.token) {
        throw new ConfigurationError(
          'postgresStore.transaction: this execution is unprotected (the store failed and failOpen let it run), so there is no record to commit with. Check context.protected and run your queries on the pool, or set failOpen: false.',
        );
      }
      let tx = open.get(context.token);
      if (tx === undefined) {
        tx = { key: context.storeKey, client: begin(context.token) };
        open.set(context.token, tx);
        // The engine then reports the operation's success only once the commit is confirmed.
        bindTransaction(context);
      }
      return tx.client;
    },

    async take(key, token) {
      const tx = open.get(token);
      if (tx === undefined || tx.key !== key) return undefined;
      open.delete(token);
      return tx.client.catch(() => undefined);
    },

    async commit(client, complete, values) {
      let cause: unknown;
      try {
        if ((await client.query(complete, values)).rowCount !== 1) {
          await client.query('ROLLBACK');
          finish(client);
          cause = new Error(
            'The lease ran out before completion; another request owns the key now.',
          );
        } else if ((await client.query('COMMIT')).command === 'COMMIT') {
          finish(client);
          return 'ok';
        } else {
          // COMMIT of a transaction that failed earlier answers ROLLBACK, not an error.
          cause = new Error('The transaction had failed earlier; PostgreSQL rolled it back.');
          finish(client);
        }
      } catch (error) {
        // Terminated backend, lost connection, failed COMMIT: nothing was kept
        // (or, if COMMIT reached the server, the record is completed and the
        // engine's release finds it stale, so a retry gets the replay).
        cause = error;
        finish(client, error);
      }
      throw new RolledBackError(cause);
    },

    async rollback(client) {
      try {
        await client.query('ROLLBACK');
        finish(client);
      } catch (error) {
        finish(client, error);
      }
    },
  };
}
