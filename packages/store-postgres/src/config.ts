import { ConfigurationError, type Rule, rule } from '@idem/core/store';
import type { Pool } from 'pg';

/** The `pool` option: something with a pg Pool's query() and connect(). */
export const pgPool: Rule<Pool> = rule(
  'a pg Pool, such as new pg.Pool({ connectionString })',
  (v) =>
    typeof (v as Partial<Pool> | null)?.query === 'function' &&
    typeof (v as Partial<Pool>).connect === 'function',
);

/**
 * `pool` when it is a Pool, not one of the pg objects that also pass
 * {@link pgPool}: a checked-out client or a Client; otherwise a
 * `ConfigurationError` that says what to pass instead.
 * @param where Names the entry point, e.g. `'idem: postgresStore()'`.
 */
export function checkPool(pool: Pool, where: string): Pool {
  // A Client answers query() and connect() too; only a Pool counts its clients.
  if (typeof (pool as { release?: unknown }).release === 'function') {
    throw new ConfigurationError(
      `${where}: option "pool" is a client checked out of a pg Pool (the result of pool.connect()); pass the Pool itself: { pool }.`,
    );
  }
  if (typeof pool.totalCount !== 'number') {
    throw new ConfigurationError(
      `${where}: option "pool" is a pg Client, a single connection; pass a pg Pool: { pool: new pg.Pool({ connectionString }) }. The store serves requests concurrently and holds one connection per transaction(), which one Client cannot do.`,
    );
  }
  return pool;
}

/**
 * A database error that means the store is not set up, as a
 * `ConfigurationError` naming the fix (with the error as its cause); any
 * other error unchanged. The engine still answers clients a plain 503.
 */
export function setupError(error: unknown, table: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '42P01') {
    return new ConfigurationError(
      `postgresStore: the table ${table} does not exist: run \`await store.migrate()\` or apply schema.sql (schemaSql(${JSON.stringify(table)}) for this table name) before serving requests.`,
      { cause: error },
    );
  }
  if (code === '42703') {
    return new ConfigurationError(
      `postgresStore: the table ${table} lacks a column the store needs, so schema.sql did not create it: give the store a table of its own (the table option), then run \`await store.migrate()\` or apply schema.sql.`,
      { cause: error },
    );
  }
  return error;
}
