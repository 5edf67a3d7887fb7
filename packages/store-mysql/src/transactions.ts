import { type ClaimTransactions, claimTransactions } from '@idem/core/store';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { errno, setupError } from './config.js';
import type { Names } from './schema.js';
import { type Cell, type Query, text, whole } from './sql.js';

/** Connections tried for a transaction whose first statement fails (a connection that died idle). */
const BEGIN_ATTEMPTS = 3;

/**
 * The connections the store checks out itself, and the transactions it hands
 * to handlers: core's bookkeeping over a pool connection inside `START
 * TRANSACTION`, committed by the completion procedure.
 */
export interface Transactions extends ClaimTransactions<PoolConnection, Completion> {
  /** A pool connection of the store's own, with an error listener. */
  checkout(): Promise<PoolConnection>;
  /** Back to the pool after a clean end; destroyed after an error (its state is unknown). */
  finish(connection: PoolConnection, error?: unknown): void;
}

/** The record to complete, its response as SQL literals, for the completion `CALL`. */
export interface Completion {
  readonly key: string;
  readonly token: string;
  readonly ttlMs: number;
  readonly status: string;
  readonly headers: string;
  readonly body: string;
}

function ignore(): void {}

export function transactions(pool: Pool, n: Names, query: Query): Transactions {
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

  const bookkeeping = claimTransactions<PoolConnection, Completion>({
    name: 'mysqlStore',

    async begin() {
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
    },

    async commit(connection, { key, token, ttlMs, status, headers, body }) {
      const call = `CALL ${n.commit}(${text(key)}, ${text(token)}, ${whole(ttlMs)}, ${status}, ${headers}, ${body})`;
      try {
        // The procedure rolls back itself when the record is no longer the token's.
        const rows = ((await query(connection, call)) as Cell[][][])[0]!;
        finish(connection);
        return rows[0]?.[0]?.toString() === '1';
      } catch (error) {
        // A killed connection, a failed COMMIT, or (1305) a transaction that
        // had already ended: a deadlock rolled it back, or the handler ended it.
        finish(connection, error);
        throw error;
      }
    },

    async rollback(connection) {
      try {
        await connection.query('ROLLBACK');
        finish(connection);
      } catch (error) {
        finish(connection, error);
      }
    },
  });

  return { ...bookkeeping, checkout, finish };
}
