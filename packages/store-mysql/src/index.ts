import {
  bindTransaction,
  type ClaimRequest,
  type ClaimResult,
  ConfigurationError,
  type ExecutionContext,
  type OwnerResult,
  ResponseTooLargeError,
  RolledBackError,
  type Store,
  type StoredRecord,
  type StoredResponse,
} from '@idem/core';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { checkPool, errno, refuseUnknown, setupError } from './config.js';
import { DEFAULT_TABLE, NOW_MS, names, procedures, tableDdl } from './schema.js';

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
   * back and the key released. Calls with the same context return the same
   * connection; call it while the operation runs, not after it finished.
   * Never commit, roll back or release it yourself. Throws a
   * `ConfigurationError` for an unprotected context (`failOpen` let the
   * operation run without a record).
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
  transaction(context: ExecutionContext): Promise<PoolConnection>;
  /**
   * Delete records whose lease or expiry has passed, in batches of
   * `batchSize`, until none are left; returns how many were deleted. Live
   * records are never touched. Run it from a cron job.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
  /** See {@link MysqlStoreOptions.maxResponseBytes}. */
  readonly maxResponseBytes: number;
}

/** A column as the store reads it: raw bytes (typeCast off), whatever the pool's own settings. */
type Cell = Buffer | null;

/** Connections tried for a transaction whose first statement fails (a connection that died idle). */
const BEGIN_ATTEMPTS = 3;
// Deadlocks (1213) roll a statement back having changed nothing; InnoDB can
// report one for concurrent upserts of one key. Retried, each attempt one round trip.
const MAX_ATTEMPTS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
// MySQL literals for any bytes, whatever the connection's character set.
const hex = (bytes: Uint8Array) =>
  `X'${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}'`;
const text = (value: string) => hex(Buffer.from(value, 'utf8'));
/** Keys, tokens and fingerprints fit VARBINARY(255) as UTF-8, and round-trip through it. */
const fits = (value: unknown): value is string =>
  typeof value === 'string' && !/\p{Cs}/u.test(value) && Buffer.byteLength(value) <= 255;
const whole = (n: number) => String(Math.max(0, Math.floor(n)));

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
  const pool = checkPool(options?.pool);
  refuseUnknown('mysqlStore', options, ['pool', 'table', 'maxResponseBytes']);
  const n = names(options.table ?? DEFAULT_TABLE);
  const maxResponseBytes = options.maxResponseBytes ?? 4 * MiB;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 0) {
    throw new ConfigurationError(
      `mysqlStore: maxResponseBytes must be a whole number of bytes, got ${String(maxResponseBytes)}.`,
    );
  }
  const live = `expires_at > ${NOW_MS}`;
  const owned = (key: string, token: string) =>
    `\`key\` = ${text(key)} AND token = ${text(token)} AND state = 'in_progress' AND ${live}`;
  const columns = 'state, fingerprint, expires_at, status, headers, body';

  /** One statement, one round trip, typeCast off so no pool setting can reshape the columns. */
  async function query(on: Pool | PoolConnection, sql: string): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await on.query({ sql, rowsAsArray: true, typeCast: false }))[0];
      } catch (error) {
        if (errno(error) !== 1213 || attempt >= MAX_ATTEMPTS || on !== pool) {
          throw setupError(error, n.table);
        }
        // Jittered backoff, so contenders of one hot key stop colliding.
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  }
  const changed = async (sql: string): Promise<OwnerResult> =>
    ((await query(pool, sql)) as ResultSetHeader).affectedRows === 1 ? 'ok' : 'stale';
  /** The rows of a CALL's one result set. */
  const called = async (on: Pool | PoolConnection, sql: string) =>
    ((await query(on, sql)) as Cell[][][])[0]!;

  /** status, headers and body as SQL literals; a body over the limit is refused before sending. */
  const encode = (response: StoredResponse): [string, string, string] => {
    const size = response.body.byteLength;
    if (size > maxResponseBytes) throw new ResponseTooLargeError(size, maxResponseBytes);
    const headers = Buffer.from(JSON.stringify(response.headers), 'utf8');
    return [whole(response.status), hex(headers), hex(response.body)];
  };

  // Transactions opened by transaction(), by owner token, until complete or release.
  const open = new Map<string, { key: string; connection: Promise<PoolConnection> }>();

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

  async function checkout(): Promise<PoolConnection> {
    const connection = await pool.getConnection();
    // A checked-out connection whose server side dies emits 'error', and
    // mysql2's own listener is a once(): ours keeps a second one from
    // crashing the process. The next query fails instead.
    connection.connection.on('error', ignore);
    return connection;
  }

  /** Back to the pool after a clean end; destroyed after an error (its state is unknown). */
  function finish(connection: PoolConnection, error?: unknown): void {
    if (error === undefined) {
      connection.connection.off('error', ignore);
      connection.release();
    } else {
      connection.destroy();
    }
  }

  async function takeTx(key: string, token: string): Promise<PoolConnection | undefined> {
    const tx = open.get(token);
    if (tx === undefined || tx.key !== key) return undefined;
    open.delete(token);
    return tx.connection.catch(() => undefined);
  }

  async function commitWith(
    connection: PoolConnection,
    key: string,
    token: string,
    ttlMs: number,
    [status, headers, body]: [string, string, string],
  ): Promise<OwnerResult> {
    let cause: unknown;
    try {
      const rows = await called(
        connection,
        `CALL ${n.commit}(${text(key)}, ${text(token)}, ${whole(ttlMs)}, ${status}, ${headers}, ${body})`,
      );
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
  }

  return {
    maxResponseBytes,

    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const { fingerprint, token, leaseMs } = request;
      if (!fits(key) || !fits(fingerprint) || !fits(token)) {
        throw new RangeError(
          'mysqlStore: keys, fingerprints and tokens must be well-formed strings of at most 255 UTF-8 bytes.',
        );
      }
      const rows = await called(
        pool,
        `CALL ${n.claim}(${text(key)}, ${text(fingerprint)}, ${text(token)}, ${whole(leaseMs)})`,
      );
      const [claimed, ...record] = rows[0]!;
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
      const values = encode(response);
      const tx = await takeTx(key, token);
      if (tx) return commitWith(tx, key, token, ttlMs, values);
      if (!fits(token)) return 'stale';
      const [status, headers, body] = values;
      // On a connection of its own: one refused as over max_allowed_packet is
      // closed by the server, and must not go back to the pool.
      const connection = await checkout();
      try {
        const result = (await query(
          connection,
          `UPDATE ${n.sql} SET state = 'completed', token = NULL, expires_at = ${NOW_MS} + ${whole(ttlMs)},
status = ${status}, headers = ${headers}, body = ${body} WHERE ${owned(key, token)}`,
        )) as ResultSetHeader;
        finish(connection);
        return result.affectedRows === 1 ? 'ok' : 'stale';
      } catch (error) {
        finish(connection, error);
        if (errno(error) === 1153) {
          throw new ResponseTooLargeError(response.body.byteLength, maxResponseBytes);
        }
        throw error;
      }
    },

    async release(key: string, token: string): Promise<OwnerResult> {
      const connection = await takeTx(key, token);
      if (connection) {
        try {
          await connection.query('ROLLBACK');
          finish(connection);
        } catch (error) {
          finish(connection, error);
        }
      }
      if (!fits(token)) return 'stale';
      return changed(`DELETE FROM ${n.sql} WHERE ${owned(key, token)}`);
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
        `SELECT ${columns} FROM ${n.sql} WHERE \`key\` = ${text(key)} AND ${live}`,
      )) as Cell[][];
      return rows[0] && toRecord(rows[0]);
    },

    async transaction(context: ExecutionContext): Promise<PoolConnection> {
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

    async migrate(): Promise<void> {
      const connection = await pool.getConnection();
      try {
        // The procedures keep the sql_mode they are created under: a strict
        // one. The lock keeps instances that start together apart.
        await connection.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
        await connection.query(`SELECT GET_LOCK('idem-migrate:${n.bare}', 30)`);
        await connection.query(tableDdl(n));
        for (const procedure of procedures(n)) {
          // 1304: created meanwhile by another instance; the name carries the version.
          await connection.query(procedure.sql).catch((error: unknown) => {
            if (errno(error) !== 1304) throw error;
          });
        }
        const [rows] = await connection.query({
          sql: 'SELECT @@max_allowed_packet',
          rowsAsArray: true,
        });
        const packet = Number((rows as unknown[][])[0]![0]);
        const needed = 2 * maxResponseBytes + MiB;
        if (packet < needed) {
          throw new ConfigurationError(
            `mysqlStore: the server's max_allowed_packet is ${packet} bytes, but completing a ${maxResponseBytes}-byte response (maxResponseBytes, sent hex-encoded) needs ${needed}: raise max_allowed_packet, or pass maxResponseBytes: ${Math.max(0, Math.floor((packet - MiB) / 2))} or less.`,
          );
        }
      } finally {
        // Its session carries the sql_mode and the lock: do not hand it back.
        connection.destroy();
      }
    },

    async purgeExpired(purge?: PurgeOptions): Promise<number> {
      if (purge !== undefined) refuseUnknown('purgeExpired', purge, ['batchSize']);
      const batchSize = purge?.batchSize ?? 1000;
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new ConfigurationError(
          `purgeExpired: batchSize must be a positive integer, got ${String(batchSize)}.`,
        );
      }
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

function ignore(): void {}

/** A record from its columns: state, fingerprint, expires_at, status, headers, body. */
function toRecord([state, fingerprint, expires, status, headers, body]: Cell[]): StoredRecord {
  const common = { fingerprint: fingerprint!.toString('utf8') };
  const at = Number(expires!.toString());
  if (state!.toString() === 'in_progress') {
    return { state: 'in_progress', ...common, leaseExpiresAt: at };
  }
  return {
    state: 'completed',
    ...common,
    expiresAt: at,
    response: {
      status: Number(status!.toString()),
      headers: (JSON.parse(headers!.toString('utf8')) as Array<[string, string]>).map(
        ([name, value]) => [name, value] as const,
      ),
      // A copy: mysql2 hands out Buffers that share the packet's memory.
      body: new Uint8Array(body!),
    },
  };
}
