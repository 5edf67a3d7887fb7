import {
  boolean,
  type Claim,
  type ClaimRequest,
  type ClaimResult,
  defineOptions,
  type OwnerResult,
  option,
  required,
  type Store,
  type StoredRecord,
  type StoredResponse,
  whole,
} from '@idem/core/store';
import type { Pool, PoolClient, QueryResult } from 'pg';
import { checkPool, pgPool, setupError } from './config.js';
import { DEFAULT_TABLE, schemaSql, tableName, tableRule } from './schema.js';
import { transactions } from './transactions.js';

export { schemaSql } from './schema.js';

/** Options of {@link postgresStore}. */
export interface PostgresStoreOptions {
  /** A `pg` Pool; the store never creates or ends it. Give it an `error` listener, as pg asks. */
  readonly pool: Pool;
  /**
   * The records table, optionally schema-qualified (`idem.records`). Create it
   * with {@link PostgresStore.migrate} or {@link schemaSql}.
   * @default 'idem_records'
   */
  readonly table?: string;
  /**
   * Run the store's statements as named prepared statements, parsed and
   * planned once per connection instead of on every call. Turn it off behind
   * a pooler that cannot keep them across transactions (PgBouncer in
   * transaction mode before 1.21, or without `max_prepared_statements`).
   * @default true
   */
  readonly preparedStatements?: boolean;
}

/** Options of {@link PostgresStore.purgeExpired}. */
export interface PurgeOptions {
  /**
   * Rows deleted per statement; each batch is its own short transaction.
   * @default 1000
   */
  readonly batchSize?: number;
}

/** A {@link Store} on PostgreSQL, with schema, purge and transactional completion. */
export interface PostgresStore extends Store {
  /** Create the table and its expiry index if missing (safe to run concurrently). */
  migrate(): Promise<void>;
  /**
   * The database transaction bound to this execution: a pool client inside
   * `BEGIN`. Run the operation's own queries on it; idem completes the record
   * in the same transaction and commits, so the writes and the record are kept
   * together or not at all (a failed commit answers 503 'rolled-back'). If the
   * operation fails, the transaction is rolled back and the key released.
   * Calls with the same claim return the same client; call it while the
   * operation runs. Never commit, roll back or release it yourself. Throws a
   * `ConfigurationError` for an unprotected claim (`failOpen` let the
   * operation run without a record) and once the operation finished.
   *
   * @example
   * ```ts
   * app.post('/payments', async (c) => {
   *   const tx = await store.transaction(c.get('idempotency'));
   *   await tx.query('INSERT INTO payments (id, amount) VALUES ($1, $2)', [id, amount]);
   *   return c.json({ id }, 201);
   * });
   * ```
   */
  transaction(claim: Claim | undefined): Promise<PoolClient>;
  /**
   * Delete records whose lease or expiry has passed, in batches of
   * `batchSize`, until none are left; returns how many were deleted. Live
   * records are never touched. Run it from a cron job.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
}

interface Row {
  claimed?: boolean;
  state: 'in_progress' | 'completed';
  fingerprint: string;
  expires_ms: number;
  status: number | null;
  headers: Array<[string, string]> | null;
  body: Uint8Array | null;
}

// Errors that mean "this statement lost a race and changed nothing": retried,
// so a claim race always resolves to a claim result (serialization failure,
// deadlock, unique violation under a stricter default isolation level).
// They only occur when the session's default isolation level is stricter than
// READ COMMITTED (or in a deadlock); each attempt is still one round trip.
const RETRYABLE = new Set(['40001', '40P01', '23505']);
const MAX_ATTEMPTS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ms = (param: string) => `statement_timestamp() + ${param}::float8 * interval '1 millisecond'`;

const WHERE = 'idem: postgresStore()';

const resolveOptions = defineOptions({
  pool: required(pgPool),
  table: option(tableRule, DEFAULT_TABLE),
  preparedStatements: option(boolean, true),
});

const resolvePurge = defineOptions({ batchSize: option(whole('rows', 1), 1000) });

/**
 * A PostgreSQL store on `pg`. Every operation is one statement (one round
 * trip) judged by the database clock; see the README for the SQL.
 *
 * @example
 * ```ts
 * const store = postgresStore({ pool: new pg.Pool({ connectionString }) });
 * await store.migrate();
 * app.use('/payments', idempotency({ store }));
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  // Names first: `{ pol: pool }` is a typo, not a missing pool.
  const resolved = resolveOptions(options, WHERE);
  const pool = checkPool(resolved.pool, WHERE);
  const { table } = resolved;
  const t = tableName(table, WHERE).sql;

  // Liveness is judged by statement_timestamp(): the database clock when the
  // statement started, the same for every row it touches. Unlike now() it also
  // moves inside a long transaction, which a transactional completion is.
  const live = 'expires_at > statement_timestamp()';
  const owned = `key = $1 AND token = $2 AND state = 'in_progress' AND ${live}`;
  const returning = `state, fingerprint, floor(extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms, status, headers, body`;
  const claimed = `RETURNING true AS claimed, ${returning}`;
  // The claim, one statement in the common case. A live row visible to the
  // statement's snapshot is returned by a plain read: no lock, no row
  // version, no WAL, and concurrent replays of one key never queue behind
  // each other. That answer is the record as committed when the statement
  // began, which is a correct answer at that instant (a completed record
  // stays completed while live; an in-progress one was in progress then,
  // and is ours when the token matches: a claim resent after a lost reply).
  // Only when the snapshot shows no live row does the INSERT run, and
  // ON CONFLICT judges the newest committed version under the row lock:
  // a new key is inserted, an expired row taken over (the DO UPDATE's WHERE),
  // and concurrent claims serialize so exactly one wins. Right-hand sides
  // see the old row.
  const CLAIM = `WITH live AS (SELECT (state = 'in_progress' AND token = $3) AS claimed, ${returning} FROM ${t} WHERE key = $1 AND ${live}),
won AS (INSERT INTO ${t} AS r (key, fingerprint, state, token, expires_at)
SELECT $1, $2, 'in_progress', $3, ${ms('$4')} WHERE NOT EXISTS (SELECT FROM live)
ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, state = excluded.state,
token = excluded.token, expires_at = excluded.expires_at, status = NULL, headers = NULL, body = NULL
WHERE r.expires_at <= statement_timestamp() ${claimed})
SELECT * FROM won UNION ALL SELECT * FROM live`;
  // The race the snapshot can lose: a claim committed after this statement
  // began is invisible to its read, and live, so the DO UPDATE's WHERE skips
  // it and the statement returns no row. Rare, so a second round trip is
  // fine there: this form rewrites a live conflicting row to its own values
  // (a HOT update) so that RETURNING yields it, whatever happened meanwhile.
  const takeOver = (column: string, fresh: string) =>
    `${column} = CASE WHEN r.expires_at <= statement_timestamp() THEN ${fresh} ELSE r.${column} END`;
  const CLAIM_LOCKED = `INSERT INTO ${t} AS r (key, fingerprint, state, token, expires_at)
VALUES ($1, $2, 'in_progress', $3, ${ms('$4')})
ON CONFLICT (key) DO UPDATE SET ${[
    takeOver('fingerprint', 'excluded.fingerprint'),
    takeOver('state', 'excluded.state'),
    takeOver('token', 'excluded.token'),
    takeOver('expires_at', 'excluded.expires_at'),
    takeOver('status', 'NULL'),
    takeOver('headers', 'NULL'),
    takeOver('body', 'NULL'),
  ].join(', ')}
RETURNING (r.state = 'in_progress' AND r.token = $3) AS claimed, ${returning}`;
  const COMPLETE = `UPDATE ${t} SET state = 'completed', token = NULL, expires_at = ${ms('$3')},
status = $4, headers = $5::jsonb, body = $6 WHERE ${owned}`;
  const RELEASE = `DELETE FROM ${t} WHERE ${owned}`;
  const RENEW = `UPDATE ${t} SET expires_at = ${ms('$3')} WHERE ${owned}`;
  const READ = `SELECT ${returning} FROM ${t} WHERE key = $1 AND ${live}`;
  // SKIP LOCKED leaves rows being claimed or completed to their owners; the
  // locking read re-checks expiry on the newest row version, so a record taken
  // over after the scan started is never deleted.
  const PURGE = `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${t} WHERE NOT (${live})
ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) AND NOT (${live})`;

  async function query<R extends object>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    const name = resolved.preparedStatements ? statementName(text) : undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await pool.query<R>({ text, values, ...(name && { name }) });
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt >= MAX_ATTEMPTS || !code || !RETRYABLE.has(code)) {
          throw setupError(error, table);
        }
        // Jittered backoff, so contenders of one hot key stop colliding.
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  }

  const owner = (result: QueryResult): OwnerResult => (result.rowCount === 1 ? 'ok' : 'stale');
  // No owner token can hold NUL (PostgreSQL text cannot), so such a token owns nothing.
  const foreign = (token: string) => typeof token !== 'string' || token.includes('\0');

  const tx = transactions(pool);

  return {
    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const values = [key, request.fingerprint, request.token, request.leaseMs];
      const row =
        (await query<Row>(CLAIM, values)).rows[0] ??
        (await query<Row>(CLAIM_LOCKED, values)).rows[0]!;
      return row.claimed ? { claimed: true } : { claimed: false, record: toRecord(row) };
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      const values = [
        key,
        token,
        ttlMs,
        response.status,
        JSON.stringify(response.headers),
        Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength),
      ];
      const name = resolved.preparedStatements ? statementName(COMPLETE) : undefined;
      const committed = await tx.commit(key, token, {
        text: COMPLETE,
        values,
        ...(name && { name }),
      });
      if (committed !== undefined) return committed;
      if (foreign(token)) return 'stale';
      return owner(await query(COMPLETE, values));
    },

    async release(key: string, token: string): Promise<OwnerResult> {
      await tx.rollback(key, token);
      if (foreign(token)) return 'stale';
      return owner(await query(RELEASE, [key, token]));
    },

    async remove(key: string): Promise<void> {
      // An open transaction of the owner stays open: its completion then finds the record gone (stale).
      await query(`DELETE FROM ${t} WHERE key = $1`, [key]);
    },

    async renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      if (foreign(token)) return 'stale';
      return owner(await query(RENEW, [key, token, leaseMs]));
    },

    async read(key: string): Promise<StoredRecord | undefined> {
      const { rows } = await query<Row>(READ, [key]);
      return rows[0] && toRecord(rows[0]);
    },

    transaction: (claim: Claim | undefined): Promise<PoolClient> => tx.bind(claim),

    async migrate(): Promise<void> {
      // One simple-query string runs as one implicit transaction; the advisory
      // lock keeps concurrent migrations (several instances starting) apart.
      await pool.query(
        `SELECT pg_advisory_xact_lock(hashtext('idem-migrate:${table}'));\n${schemaSql(table)}`,
      );
    },

    async purgeExpired(purge?: PurgeOptions): Promise<number> {
      const { batchSize } = resolvePurge(purge === undefined ? {} : purge, 'idem: purgeExpired()');
      let total = 0;
      for (;;) {
        const deleted = (await query(PURGE, [batchSize])).rowCount ?? 0;
        total += deleted;
        if (deleted < batchSize) return total;
      }
    },
  };
}

const names = new Map<string, string>();

/**
 * A prepared statement's name, derived from its text (FNV-1a): pg refuses one
 * name for two texts on a connection, and two stores on other tables share
 * the pool's connections.
 */
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    name = `idem_${(h >>> 0).toString(16).padStart(8, '0')}_${text.length}`;
    names.set(text, name);
  }
  return name;
}

function toRecord(row: Row): StoredRecord {
  if (row.state === 'in_progress') {
    return { state: 'in_progress', fingerprint: row.fingerprint, leaseExpiresAt: row.expires_ms };
  }
  return {
    state: 'completed',
    fingerprint: row.fingerprint,
    expiresAt: row.expires_ms,
    response: {
      status: row.status!,
      headers: row.headers!.map(([name, value]) => [name, value] as const),
      // A copy: pg hands out Buffers that may share a larger pooled allocation.
      body: new Uint8Array(row.body!),
    },
  };
}
