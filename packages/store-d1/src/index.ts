import {
  type ClaimRequest,
  type ClaimResult,
  ConfigurationError,
  clock as clockRule,
  defineOptions,
  type OwnerResult,
  option,
  ResponseTooLargeError,
  required,
  rule,
  type Store,
  type StoredRecord,
  type StoredResponse,
  whole,
} from '@idem/core/store';
import { DEFAULT_TABLE, schemaStatements, tableRule } from './schema.js';

export { schemaSql } from './schema.js';

/**
 * The part of a D1 binding the store uses. `D1Database` from
 * `@cloudflare/workers-types` (or from `wrangler types`) fits it, and so does
 * miniflare's Node-side proxy (`await mf.getD1Database('DB')`). Declared here
 * so the package's types need neither.
 */
export interface D1DatabaseLike {
  prepare(query: string): D1StatementLike;
  batch(statements: D1StatementLike[]): Promise<D1ResultLike[]>;
}

/** The part of a `D1PreparedStatement` the store uses. */
export interface D1StatementLike {
  bind(...values: unknown[]): D1StatementLike;
  run(): Promise<D1ResultLike>;
  first(): Promise<Record<string, unknown> | null>;
}

/** The part of a `D1Result` the store reads. */
export interface D1ResultLike {
  readonly results?: unknown[];
  readonly meta: { readonly changes?: number };
}

/** Options of {@link d1Store}. */
export interface D1StoreOptions {
  /** The D1 binding (`env.DB`), or miniflare's proxy of one. Not a read-replica session: replicas lag. */
  readonly database: D1DatabaseLike;
  /**
   * The records table. Create it with {@link D1Store.migrate}, or apply the
   * package's `migrations/0001_idem_records.sql` with `wrangler d1 migrations`.
   * @default 'idem_records'
   */
  readonly table?: string;
  /**
   * The clock leases and expiry are judged by, in epoch milliseconds. By
   * default it is SQLite's own clock, read inside each statement
   * (`julianday('now')`), so every Worker, in every location, agrees, and
   * Workers' `Date.now()` (which stands still while code runs) plays no part.
   * Inject one only for tests that move time by hand.
   * @default SQLite's clock
   */
  readonly now?: () => number;
}

/** Options of {@link D1Store.purgeExpired}. */
export interface PurgeOptions {
  /**
   * Rows deleted per statement; each is one short write.
   * @default 1000
   */
  readonly batchSize?: number;
}

/** A {@link Store} on a Cloudflare D1 database. */
export interface D1Store extends Store {
  /** The records table. */
  readonly table: string;
  /**
   * Largest response body kept, in bytes: 1.75 MiB, leaving room under D1's
   * 2,000,000-byte row limit for headers and bookkeeping.
   * @default 1_835_008
   */
  readonly maxResponseBytes: number;
  /** Create the table and its expiry index if missing (one batch, safe to repeat). */
  migrate(): Promise<void>;
  /**
   * Delete records whose lease or expiry has passed, `batchSize` rows per
   * statement, until none are left; returns how many were deleted. Live
   * records are never touched. Run it from a Cron Trigger.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
}

/** D1's limit on a string, BLOB or row, in bytes. */
const ROW_LIMIT = 2_000_000;
const MAX_BODY = 1_835_008;
/** A completed row besides key, headers and body: column values and 1 KiB for the fingerprint. */
const ROW_FIXED_BYTES = 1024 + 64;

interface Row {
  claimed?: number;
  state: 'in_progress' | 'completed';
  fingerprint: string;
  expires_at: number;
  status: number | null;
  headers: string | null;
  body: ArrayBuffer | ArrayLike<number> | null;
}

const encoder = new TextEncoder();
// Epoch milliseconds on SQLite's clock ('now' is fixed for the whole statement),
// unless the caller injected a clock: its value is bound as the last parameter.
const sqliteNow = (param: string) =>
  `COALESCE(${param}, CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER))`;

const resolveOptions = defineOptions({
  database: required(
    rule<D1DatabaseLike>(
      'the D1 binding, such as env.DB (a [[d1_databases]] binding in wrangler.toml) or miniflare\'s await mf.getD1Database("DB")',
      (v) =>
        typeof (v as Partial<D1DatabaseLike> | null)?.prepare === 'function' &&
        typeof (v as D1DatabaseLike).batch === 'function',
    ),
  ),
  table: option(tableRule, DEFAULT_TABLE),
  now: option(clockRule),
});

const resolvePurge = defineOptions({ batchSize: option(whole('rows', 1), 1000) });

/**
 * A store on Cloudflare D1 (SQLite). Every operation is one round trip and
 * atomic: a single statement, or for a claim one `batch()`, which D1 runs as
 * a transaction. Leases and expiry are judged by SQLite's clock.
 *
 * @example
 * ```ts
 * const store = d1Store({ database: env.DB });
 * app.use('/payments/*', idempotency({ store }));
 * ```
 */
export function d1Store(options: D1StoreOptions): D1Store {
  // Names first: `{ db: env.DB }` is a typo, not a missing binding.
  const { database, table, now: clock } = resolveOptions(options, 'idem: d1Store()');
  const t = `"${table}"`;

  // ?1 key and ?2 token in every owner statement; the clock is the last parameter.
  const owned = (now: string) =>
    `key = ?1 AND token = ?2 AND state = 'in_progress' AND expires_at > ${now}`;
  const columns = 'state, fingerprint, expires_at, status, headers, body';
  // The claim is a batch, one transaction: D1 runs a database's statements
  // one at a time, so nothing comes between the two. The upsert inserts a new
  // row or takes over an expired one (its WHERE leaves a live row untouched,
  // with no write); the SELECT then reads the row as the upsert left it, so a
  // refused claim gets the live record in the same round trip, and the caller
  // owns the key exactly when the row carries its token.
  const CLAIM_WRITE = `INSERT INTO ${t} (key, fingerprint, state, token, expires_at)
VALUES (?1, ?2, 'in_progress', ?3, ${sqliteNow('?5')} + ?4)
ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, state = excluded.state,
token = excluded.token, expires_at = excluded.expires_at, status = NULL, headers = NULL, body = NULL
WHERE expires_at <= ${sqliteNow('?5')}`;
  const CLAIM_READ = `SELECT (state = 'in_progress' AND token = ?2) AS claimed, ${columns} FROM ${t} WHERE key = ?1`;
  const COMPLETE = `UPDATE ${t} SET state = 'completed', token = NULL, expires_at = ${sqliteNow('?7')} + ?3,
status = ?4, headers = ?5, body = ?6 WHERE ${owned(sqliteNow('?7'))}`;
  const RENEW = `UPDATE ${t} SET expires_at = ${sqliteNow('?4')} + ?3 WHERE ${owned(sqliteNow('?4'))}`;
  const RELEASE = `DELETE FROM ${t} WHERE ${owned(sqliteNow('?3'))}`;
  const READ = `SELECT ${columns} FROM ${t} WHERE key = ?1 AND expires_at > ${sqliteNow('?2')}`;
  const PURGE = `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${t}
WHERE expires_at <= ${sqliteNow('?2')} ORDER BY expires_at LIMIT ?1)`;

  // Each statement is prepared once per store and bound per call (binding
  // makes a new statement). A prepared statement holds no request's I/O, so
  // an app built once per isolate reuses them; miniflare's proxy saves a call.
  const prepared = new Map<string, D1StatementLike>();
  const statement = (sql: string): D1StatementLike => {
    let found = prepared.get(sql);
    if (found === undefined) {
      found = database.prepare(sql);
      prepared.set(sql, found);
    }
    return found;
  };

  /** The injected clock's reading, or NULL for SQLite's. */
  const now = (): number | null => (clock ? clock() : null);

  /** A missing table is a setup error with a fix; anything else passes unchanged. */
  function explain(error: unknown): unknown {
    if (/no such table/i.test(String((error as { message?: unknown })?.message))) {
      return new ConfigurationError(
        `d1Store: table "${table}" does not exist in this D1 database. Apply the package's migrations/0001_idem_records.sql with \`wrangler d1 migrations apply\`, or call store.migrate() once.`,
        { cause: error },
      );
    }
    return error;
  }

  async function send<R>(call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (error) {
      throw explain(error);
    }
  }

  const changed = async (bound: D1StatementLike): Promise<OwnerResult> =>
    (await send(() => bound.run())).meta.changes === 1 ? 'ok' : 'stale';

  return {
    table,
    maxResponseBytes: MAX_BODY,

    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const { fingerprint, token, leaseMs } = request;
      const [, read] = await send(() =>
        database.batch([
          statement(CLAIM_WRITE).bind(key, fingerprint, token, leaseMs, now()),
          statement(CLAIM_READ).bind(key, token),
        ]),
      );
      const row = read?.results?.[0] as Row | undefined;
      if (!row) throw new Error(`d1Store: the claim of ${key} left no row; is "${table}" idem's?`);
      return row.claimed ? { claimed: true } : { claimed: false, record: toRecord(row) };
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      const size = response.body.byteLength;
      if (size > MAX_BODY) throw new ResponseTooLargeError(size, MAX_BODY);
      const headers = JSON.stringify(response.headers);
      // The row after completion, checked before sending so an oversized
      // result never costs a round trip (D1 would refuse it).
      const rowBytes =
        ROW_FIXED_BYTES +
        encoder.encode(key).byteLength +
        encoder.encode(headers).byteLength +
        size;
      if (rowBytes > ROW_LIMIT) throw new ResponseTooLargeError(rowBytes, ROW_LIMIT);
      const completion = statement(COMPLETE).bind(
        key,
        token,
        ttlMs,
        response.status,
        headers,
        response.body,
        now(),
      );
      try {
        return await changed(completion);
      } catch (error) {
        if (/too big|SQLITE_TOOBIG/i.test(String((error as { message?: unknown })?.message))) {
          throw new ResponseTooLargeError(rowBytes, ROW_LIMIT);
        }
        throw error;
      }
    },

    async release(key: string, token: string): Promise<OwnerResult> {
      return changed(statement(RELEASE).bind(key, token, now()));
    },

    async remove(key: string): Promise<void> {
      await send(() => database.prepare(`DELETE FROM ${t} WHERE key = ?1`).bind(key).run());
    },

    async renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      return changed(statement(RENEW).bind(key, token, leaseMs, now()));
    },

    async read(key: string): Promise<StoredRecord | undefined> {
      const row = await send(() => statement(READ).bind(key, now()).first());
      return row ? toRecord(row as unknown as Row) : undefined;
    },

    async migrate(): Promise<void> {
      await database.batch(schemaStatements(table).map((sql) => database.prepare(sql)));
    },

    async purgeExpired(purge: PurgeOptions = {}): Promise<number> {
      const { batchSize } = resolvePurge(purge, 'idem: purgeExpired()');
      let total = 0;
      for (;;) {
        const result = await send(() => statement(PURGE).bind(batchSize, now()).run());
        const deleted = result.meta.changes ?? 0;
        total += deleted;
        if (deleted < batchSize) return total;
      }
    },
  };
}

/** BLOBs arrive as an ArrayBuffer or, from D1's JSON results, an array of byte values. */
function bytesOf(value: Row['body']): Uint8Array {
  if (value === null) return new Uint8Array(0);
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  return Uint8Array.from(value as ArrayLike<number>);
}

function toRecord(row: Row): StoredRecord {
  if (row.state === 'in_progress') {
    return { state: 'in_progress', fingerprint: row.fingerprint, leaseExpiresAt: row.expires_at };
  }
  return {
    state: 'completed',
    fingerprint: row.fingerprint,
    expiresAt: row.expires_at,
    response: {
      status: row.status!,
      headers: (JSON.parse(row.headers!) as Array<[string, string]>).map(
        ([name, value]) => [name, value] as const,
      ),
      body: bytesOf(row.body),
    },
  };
}
