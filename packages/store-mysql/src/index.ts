import {
  type Claim,
  type ClaimRequest,
  type ClaimResult,
  defineOptions,
  type OwnerResult,
  option,
  ResponseTooLargeError,
  required,
  type Store,
  type StoredRecord,
  type StoredResponse,
  whole as wholeNumber,
} from '@idem/core/store';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { checkPool, errno, mysqlPool } from './config.js';
import { DEFAULT_TABLE, migrate, NOW_MS, names, tableRule } from './schema.js';
import { type Cell, fits, hex, statements, text, toRecord, whole } from './sql.js';
import { transactions } from './transactions.js';

export { schemaSql } from './schema.js';

/** Options of {@link mysqlStore}. */
export interface MysqlStoreOptions {
  /** A `mysql2/promise` Pool; the store never creates or ends it. */
  readonly pool: Pool;
  /**
   * The records table, optionally database-qualified (`idem.records`). Create
   * it, and its stored procedures, with {@link MysqlStore.migrate} or {@link schemaSql}.
   * @default 'idem_records'
   */
  readonly table?: string;
  /**
   * Largest response body the store keeps, in bytes; larger results are
   * recorded as "ran, not stored". Bodies travel hex-encoded, so a completion
   * needs a `max_allowed_packet` of twice this plus 1 MiB; `migrate()` checks.
   * @default 4194304 (4 MiB: fits MariaDB's default 16 MiB packet and MySQL's 64 MiB)
   */
  readonly maxResponseBytes?: number;
}

/** Options of {@link MysqlStore.purgeExpired}. */
export interface PurgeOptions {
  /**
   * Rows deleted per statement; each batch is its own short statement.
   * @default 1000
   */
  readonly batchSize?: number;
}

/** A {@link Store} on MySQL or MariaDB, with schema, purge and transactional completion. */
export interface MysqlStore extends Store {
  /**
   * Create the table and its stored procedures if missing (safe to run
   * concurrently), and check that `max_allowed_packet` fits `maxResponseBytes`.
   */
  migrate(): Promise<void>;
  /**
   * The database transaction bound to this execution: a pool connection
   * inside `START TRANSACTION`. Run the operation's own queries on it; idem
   * completes the record in the same transaction and commits, so the writes
   * and the record are kept together or not at all (a failed commit answers
   * 503 'rolled-back'). If the operation fails, the transaction is rolled
   * back and the key released. Calls with the same claim return the same
   * connection; call it while the operation runs. Never commit, roll back or
   * release it yourself. Throws a `ConfigurationError` for an unprotected
   * claim (`failOpen` let the operation run without a record) and once the
   * operation finished.
   *
   * @example
   * ```ts
   * app.post('/payments', async (c) => {
   *   const tx = await store.transaction(c.get('idempotency'));
   *   await tx.query('INSERT INTO payments (id, amount) VALUES (?, ?)', [id, amount]);
   *   return c.json({ id }, 201);
   * });
   * ```
   */
  transaction(claim: Claim | undefined): Promise<PoolConnection>;
  /**
   * Delete records whose lease or expiry has passed, in batches of
   * `batchSize`, until none are left; returns how many were deleted. Live
   * records are never touched. Run it from a cron job.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
  /** See {@link MysqlStoreOptions.maxResponseBytes}. */
  readonly maxResponseBytes: number;
}

const MiB = 1024 * 1024;

const WHERE = 'idem: mysqlStore()';

const resolveOptions = defineOptions({
  pool: required(mysqlPool),
  table: option(tableRule, DEFAULT_TABLE),
  maxResponseBytes: option(wholeNumber('bytes', 0), 4 * MiB),
});

const resolvePurge = defineOptions({ batchSize: option(wholeNumber('rows', 1), 1000) });

/**
 * A MySQL/MariaDB store on `mysql2`. Every operation is one round trip judged
 * by the database clock; the claim is a stored procedure. See the README for the SQL.
 *
 * @example
 * ```ts
 * const store = mysqlStore({ pool: mysql.createPool(process.env.DATABASE_URL!) });
 * await store.migrate();
 * app.use('/payments', idempotency({ store }));
 * ```
 */
export function mysqlStore(options: MysqlStoreOptions): MysqlStore {
  // Names first: `{ pol: pool }` is a typo, not a missing pool.
  const resolved = resolveOptions(options, WHERE);
  const pool = checkPool(resolved.pool, WHERE);
  const n = names(resolved.table, WHERE);
  const { maxResponseBytes } = resolved;
  const query = statements(pool, n.table);
  const tx = transactions(pool, n, query);
  const live = `expires_at > ${NOW_MS}`;
  const owned = (key: string, token: string) =>
    `\`key\` = ${text(key)} AND token = ${text(token)} AND state = 'in_progress' AND ${live}`;
  const changed = async (sql: string): Promise<OwnerResult> =>
    ((await query(pool, sql)) as ResultSetHeader).affectedRows === 1 ? 'ok' : 'stale';

  /** status, headers and body as SQL literals; a body over the limit is refused before sending. */
  const encode = (response: StoredResponse) => {
    const size = response.body.byteLength;
    if (size > maxResponseBytes) throw new ResponseTooLargeError(size, maxResponseBytes);
    const headers = Buffer.from(JSON.stringify(response.headers), 'utf8');
    return { status: whole(response.status), headers: hex(headers), body: hex(response.body) };
  };

  return {
    maxResponseBytes,

    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const { fingerprint, token, leaseMs } = request;
      if (!fits(key) || !fits(fingerprint) || !fits(token)) {
        throw new RangeError(
          'mysqlStore: keys, fingerprints and tokens must be well-formed strings of at most 255 UTF-8 bytes.',
        );
      }
      const sql = `CALL ${n.claim}(${text(key)}, ${text(fingerprint)}, ${text(token)}, ${whole(leaseMs)})`;
      // The first result set with a row, if any (see the procedure); the
      // CALL's own OK packet, last, is no array.
      const sets = (await query(pool, sql)) as unknown[];
      const row = sets.find((set): set is Cell[][] => Array.isArray(set) && set.length > 0)?.[0];
      if (row === undefined) {
        if ((sets[sets.length - 1] as ResultSetHeader).affectedRows === 1) return { claimed: true };
        throw new Error(`mysqlStore: ${n.claim} answered neither a record nor a claim.`);
      }
      const [claimed, ...record] = row;
      return claimed?.toString() === '1'
        ? { claimed: true }
        : { claimed: false, record: toRecord(record) };
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      const { status, headers, body } = encode(response);
      const completion = { key, token, ttlMs, status, headers, body };
      const committed = await tx.commit(key, token, completion);
      if (committed !== undefined) return committed;
      if (!fits(token)) return 'stale';
      // On a connection of its own: one refused as over max_allowed_packet is
      // closed by the server, and must not go back to the pool.
      const connection = await tx.checkout();
      try {
        const result = (await query(
          connection,
          `UPDATE ${n.sql} SET state = 'completed', token = NULL, expires_at = ${NOW_MS} + ${whole(ttlMs)},
status = ${status}, headers = ${headers}, body = ${body} WHERE ${owned(key, token)}`,
        )) as ResultSetHeader;
        tx.finish(connection);
        return result.affectedRows === 1 ? 'ok' : 'stale';
      } catch (error) {
        tx.finish(connection, error);
        if (errno(error) !== 1153) throw error;
        throw new ResponseTooLargeError(response.body.byteLength, maxResponseBytes);
      }
    },

    async release(key: string, token: string): Promise<OwnerResult> {
      await tx.rollback(key, token);
      if (!fits(token)) return 'stale';
      return changed(`DELETE FROM ${n.sql} WHERE ${owned(key, token)}`);
    },

    async remove(key: string): Promise<void> {
      await query(pool, `DELETE FROM ${n.sql} WHERE \`key\` = ${text(key)}`);
    },

    async renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      if (!fits(token)) return 'stale';
      return changed(
        `UPDATE ${n.sql} SET expires_at = ${NOW_MS} + ${whole(leaseMs)} WHERE ${owned(key, token)}`,
      );
    },

    async read(key: string): Promise<StoredRecord | undefined> {
      const rows = (await query(
        pool,
        `SELECT state, fingerprint, expires_at, status, headers, body FROM ${n.sql}
WHERE \`key\` = ${text(key)} AND ${live}`,
      )) as Cell[][];
      return rows[0] && toRecord(rows[0]);
    },

    transaction: (claim: Claim | undefined): Promise<PoolConnection> => tx.bind(claim),

    migrate: (): Promise<void> => migrate(pool, n, maxResponseBytes),

    async purgeExpired(purge?: PurgeOptions): Promise<number> {
      const { batchSize } = resolvePurge(purge === undefined ? {} : purge, 'idem: purgeExpired()');
      // A DELETE judges each row it locks on its newest version, so a record
      // a claim took over while the purge ran is live again and stays.
      let total = 0;
      for (;;) {
        const result = (await query(
          pool,
          `DELETE FROM ${n.sql} WHERE NOT (${live}) ORDER BY expires_at LIMIT ${batchSize}`,
        )) as ResultSetHeader;
        total += result.affectedRows;
        if (result.affectedRows < batchSize) return total;
      }
    },
  };
}
