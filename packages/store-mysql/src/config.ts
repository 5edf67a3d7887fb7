import { ConfigurationError, type Rule, rule } from '@idem/core/store';
import type { Pool } from 'mysql2/promise';

const USE = "pass a mysql2 Pool: { pool: mysql.createPool(uri) } with mysql from 'mysql2/promise'";

interface Candidate {
  query?: unknown;
  getConnection?: unknown;
  connection?: object;
  of?: unknown;
  promise?: unknown;
  pool?: { config?: { connectionConfig?: { clientFlags?: unknown } } };
}

/** The `pool` option: something with a mysql2 Pool's query(). */
export const mysqlPool: Rule<Pool> = rule(
  "a mysql2 Pool, such as mysql.createPool(uri) with mysql from 'mysql2/promise'",
  (v) => typeof v === 'object' && v !== null && typeof (v as Candidate).query === 'function',
);

/**
 * `pool` when it is a mysql2 promise Pool, not one of the mysql2 objects
 * that also pass {@link mysqlPool}; otherwise a `ConfigurationError` that
 * says what to pass instead.
 * @param where Names the entry point, e.g. `'idem: mysqlStore()'`.
 */
export function checkPool(pool: Pool, where: string): Pool {
  const p = pool as unknown as Candidate;
  const is = `${where}: option "pool" is`;
  if (typeof p.of === 'function') {
    throw new ConfigurationError(
      `${is} a PoolCluster, which the store does not support; ${USE} on the primary.`,
    );
  }
  if (typeof p.getConnection !== 'function') {
    if (p.connection && '_pool' in p.connection) {
      throw new ConfigurationError(
        `${is} a connection checked out of a Pool (the result of pool.getConnection()); pass the Pool itself: { pool }.`,
      );
    }
    throw new ConfigurationError(
      `${is} a single connection; ${USE}. The store serves requests concurrently and holds one connection per transaction(), which one connection cannot do.`,
    );
  }
  if (typeof p.promise === 'function' || !p.pool) {
    throw new ConfigurationError(
      `${is} a callback Pool from 'mysql2'; pass pool.promise(), or ${USE}.`,
    );
  }
  // A renewal that lands in the millisecond of the claim changes no column;
  // with CLIENT_FOUND_ROWS (mysql2's default) it still counts as matched.
  const flags = p.pool.config?.connectionConfig?.clientFlags;
  if (typeof flags === 'number' && (flags & 2) === 0) {
    throw new ConfigurationError(
      `${where}: option "pool" was created without the FOUND_ROWS flag, which the store needs to tell a renewed lease from a lost one; remove '-FOUND_ROWS' from its flags option.`,
    );
  }
  return pool;
}

/** The error number of a MySQL error, if it is one. */
export const errno = (error: unknown): number | undefined =>
  (error as { errno?: number } | null)?.errno;

/**
 * A database error that means the store is not set up, as a
 * `ConfigurationError` naming the fix (with the error as its cause); any
 * other error unchanged. The engine still answers clients a plain 503.
 */
export function setupError(error: unknown, table: string): unknown {
  const fix = `run \`await store.migrate()\` or apply schema.sql (schemaSql(${JSON.stringify(table)}) for this table name) before serving requests`;
  switch (errno(error)) {
    case 1146: // ER_NO_SUCH_TABLE
      return new ConfigurationError(`mysqlStore: the table ${table} does not exist: ${fix}.`, {
        cause: error,
      });
    case 1305: // ER_SP_DOES_NOT_EXIST: a procedure (or a savepoint, which is no setup error)
      if (!/^PROCEDURE /.test((error as { sqlMessage?: string }).sqlMessage ?? '')) return error;
      return new ConfigurationError(
        `mysqlStore: the stored procedures of the table ${table} do not exist: ${fix}.`,
        { cause: error },
      );
    case 1054: // ER_BAD_FIELD_ERROR
      return new ConfigurationError(
        `mysqlStore: the table ${table} lacks a column the store needs, so schema.sql did not create it: give the store a table of its own (the table option), then ${fix}.`,
        { cause: error },
      );
    case 1370: // ER_PROCACCESS_DENIED_ERROR
      return new ConfigurationError(
        `mysqlStore: the database user may not run the procedures of the table ${table}: GRANT EXECUTE on them (or on the database) to the user of the pool.`,
        { cause: error },
      );
    default:
      return error;
  }
}
