import { type PostgresStore, postgresStore } from '@idem/store-postgres';
import pg from 'pg';

interface Ledger {
  readonly pool: pg.Pool;
  readonly store: PostgresStore;
  /** Creates the tables on first call; settles once they exist. */
  migrated(): Promise<void>;
}

// One pool and one store per process, whichever route asks first (see lib/store.ts).
const shared = globalThis as typeof globalThis & { ledger?: Ledger };

function createLedger(): Ledger {
  // A pool connects on its first query, never at import (next build imports routes).
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    connectionTimeoutMillis: 2_000,
  });
  pool.on('error', (error) => console.error('idle pg client failed', error)); // pg needs a listener
  const store = postgresStore({ pool, table: 'idem_nextjs_records' });
  let migration: Promise<void> | undefined;
  // Your migrations would do this once, before deploying; the example does it on first use.
  const migrated = () => {
    migration ??= (async () => {
      await store.migrate();
      await pool.query(
        'CREATE TABLE IF NOT EXISTS nextjs_transfers (id serial PRIMARY KEY, account text NOT NULL, amount integer NOT NULL, reference text NOT NULL)',
      );
    })();
    return migration;
  };
  return { pool, store, migrated };
}

/** The process's PostgreSQL pool and transactional store, at `DATABASE_URL`. */
export function ledger(): Ledger {
  shared.ledger ??= createLedger();
  return shared.ledger;
}
