import { type ClaimTransactions, claimTransactions } from '@idem/core/store';
import type { Pool, PoolClient } from 'pg';

/** Connections tried for a transaction whose BEGIN fails (a connection that died idle). */
const BEGIN_ATTEMPTS = 3;

/** The completion statement and its values, run inside the operation's transaction. */
export interface Completion {
  readonly text: string;
  readonly values: unknown[];
  /** Its prepared statement's name, when the store prepares statements. */
  readonly name?: string;
}

function ignore(): void {}

/** The store's transactions on `pg`: core's bookkeeping over a pool client inside `BEGIN`. */
export function transactions(pool: Pool): ClaimTransactions<PoolClient, Completion> {
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

  return claimTransactions<PoolClient, Completion>({
    name: 'postgresStore',

    async begin() {
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
    },

    async commit(client, completion) {
      let committed: boolean | Error;
      try {
        if ((await client.query(completion)).rowCount !== 1) {
          await client.query('ROLLBACK');
          committed = false;
        } else if ((await client.query('COMMIT')).command === 'COMMIT') {
          committed = true;
        } else {
          // COMMIT of a transaction that failed earlier answers ROLLBACK, not an error.
          committed = new Error('The transaction had failed earlier; PostgreSQL rolled it back.');
        }
      } catch (error) {
        // Terminated backend, lost connection, failed COMMIT: nothing was kept
        // (or, if COMMIT reached the server, the record is completed and the
        // engine's release finds it stale, so a retry gets the replay).
        finish(client, error);
        throw error;
      }
      finish(client);
      if (committed instanceof Error) throw committed;
      return committed;
    },

    async rollback(client) {
      try {
        await client.query('ROLLBACK');
        finish(client);
      } catch (error) {
        finish(client, error);
      }
    },
  });
}
