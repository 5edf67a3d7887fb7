import {
  bindTransaction,
  ConfigurationError,
  type ExecutionContext,
  type OwnerResult,
  RolledBackError,
} from '@idem/core';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { errno, setupError } from './config.js';
import type { Names } from './schema.js';
import type { Cell, Query } from './sql.js';

/** Connections tried for a transaction whose first statement fails (a connection that died idle). */
const BEGIN_ATTEMPTS = 3;

/** The connections the store checks out itself, and the transactions it hands to handlers. */
export interface Transactions {
  /** `store.transaction(context)`: the connection of the context's transaction, begun on first call. */
  bind(context: ExecutionContext | undefined): Promise<PoolConnection>;
  /** The open transaction of `token` for `key`, taken out of the registry; `undefined` if none. */
  take(key: string, token: string): Promise<PoolConnection | undefined>;
  /** Run the completion CALL in the transaction: 'ok' once committed, else `RolledBackError`. */
  commit(connection: PoolConnection, call: string): Promise<OwnerResult>;
  /** Roll the transaction back and give the connection back. */
  rollback(connection: PoolConnection): Promise<void>;
  /** A pool connection of the store's own, with an error listener. */
  checkout(): Promise<PoolConnection>;
  /** Back to the pool after a clean end; destroyed after an error (its state is unknown). */
  finish(connection: PoolConnection, error?: unknown): void;
}

function ignore(): void {}

export function transactions(pool: Pool, n: Names, query: Query): Transactions {
  // Transactions opened by bind(), by owner token, until complete or release.
  const open = new Map<string, { key: string; connection: Promise<PoolConnection> }>();

  async function checkout(): Promise<PoolConnection> {
    const connection = await pool.getConnection();
    // A checked-out connection whose server side dies emits 'error', and
    // mysql2's own listener is a once(): ours keeps a second one from
    // crashing the process. The next query fails instead.
    connection.connection.on('error', ignore);
    return connection;
  }

  function finish(connection: PoolConnection, error?: unknown): void {
    if (error === undefined) {
      connection.connection.off('error', ignore);
      connection.release();
    } else {
      connection.destroy();
    }
  }

  async function begin(token: string): Promise<PoolConnection> {
    try {
      for (let attempt = 1; ; attempt++) {
        const connection = await checkout();
        try {
          await connection.query(`CALL ${n.begin}()`);
          return connection;
        } catch (error) {
          finish(connection, error);
          // Lost (it died idle in the pool), not refused by the server:
          // nothing ran on it yet, so a fresh one is safe.
          const lost = errno(error) === undefined || (error as { fatal?: boolean }).fatal;
          if (!lost || attempt >= BEGIN_ATTEMPTS) throw setupError(error, n.table);
        }
      }
    } catch (error) {
      open.delete(token);
      throw error;
    }
  }

  return {
    checkout,
    finish,

    async bind(context) {
      if (context === undefined) {
        throw new ConfigurationError(
          'mysqlStore.transaction: idem passed this request through (its method is not covered, or it carried no key while keys are optional), so there is no record to commit with. Cover the route with idem, or run your queries on the pool.',
        );
      }
      if (typeof context?.token !== 'string') {
        throw new ConfigurationError(
          "mysqlStore.transaction: pass the execution context idem gave the operation: run()'s argument, Hono's c.get('idempotency'), Express's req.idempotency or Fastify's request.idempotency.",
        );
      }
      if (!context.protected || !context.token) {
        throw new ConfigurationError(
          'mysqlStore.transaction: this execution is unprotected (the store failed and failOpen let it run), so there is no record to commit with. Check context.protected and run your queries on the pool, or set failOpen: false.',
        );
      }
      let tx = open.get(context.token);
      if (tx === undefined) {
        tx = { key: context.storeKey, connection: begin(context.token) };
        open.set(context.token, tx);
        // The engine then reports the operation's success only once the commit is confirmed.
        bindTransaction(context);
      }
      return tx.connection;
    },

    async take(key, token) {
      const tx = open.get(token);
      if (tx === undefined || tx.key !== key) return undefined;
      open.delete(token);
      return tx.connection.catch(() => undefined);
    },

    async commit(connection, call) {
      let cause: unknown;
      try {
        const rows = ((await query(connection, call)) as Cell[][][])[0]!;
        finish(connection);
        if (rows[0]?.[0]?.toString() === '1') return 'ok';
        cause = new Error('The lease ran out before completion; another request owns the key now.');
      } catch (error) {
        // A killed connection, a failed COMMIT, or (1305) a transaction that
        // had already ended: a deadlock rolled it back, or the handler ended it.
        cause = error;
        finish(connection, error);
      }
      throw new RolledBackError(cause);
    },

    async rollback(connection) {
      try {
        await connection.query('ROLLBACK');
        finish(connection);
      } catch (error) {
        finish(connection, error);
      }
    },
  };
}
