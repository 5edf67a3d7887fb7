import {
  ABSENT,
  type LifecycleEvent,
  observe,
  type RecordState,
  type StoredResponse,
  toRecord,
  transition,
} from '@idem/core/store';
import {
  type DurableObjectStateLike,
  type IdempotencyObjectClass,
  NEEDS_SQLITE,
  type Operation,
  type Reply,
  type SqlStorageLike,
} from './protocol.js';

/**
 * Records judged by the caller's injected clock are deleted this long after
 * their deadline (by the object's clock), so skew between the two clocks can
 * never let the alarm delete a record the caller still considers live.
 */
const SKEW_GRACE_MS = 3_600_000;

const SCHEMA = `CREATE TABLE IF NOT EXISTS idem_records (
  key         TEXT    PRIMARY KEY,
  state       TEXT    NOT NULL,
  fingerprint TEXT    NOT NULL,
  token       TEXT,
  deadline    INTEGER NOT NULL,
  status      INTEGER,
  headers     TEXT,
  body        BLOB,
  purge_at    INTEGER NOT NULL
)`;

interface Row {
  state: 'in_progress' | 'completed';
  fingerprint: string;
  token: string | null;
  deadline: number;
  status: number | null;
  headers: string | null;
  body: ArrayBuffer | null;
}

function stateOf(row: Row | undefined): RecordState {
  if (row === undefined) return ABSENT;
  if (row.state === 'in_progress') {
    return {
      state: 'in_progress',
      fingerprint: row.fingerprint,
      token: row.token!,
      leaseExpiresAt: row.deadline,
    };
  }
  const response: StoredResponse = {
    status: row.status!,
    headers: JSON.parse(row.headers!),
    body: new Uint8Array(row.body ?? new ArrayBuffer(0)),
  };
  return { state: 'completed', fingerprint: row.fingerprint, expiresAt: row.deadline, response };
}

/**
 * The store's Durable Object class, on top of `Base` (workerd's
 * `DurableObject`, which JS RPC requires). Each operation reads the key's
 * row, applies core's lifecycle `transition` and writes the result, all with
 * the synchronous SQLite API and no `await` in between: a Durable Object runs
 * one event at a time, so the step is atomic and every caller, from any
 * Worker or location, sees the same state.
 */
export function idempotencyObjectOn(
  Base: abstract new (ctx: never, env: never) => object,
): IdempotencyObjectClass {
  const Parent = Base as unknown as new (ctx: unknown, env: unknown) => object;
  const IdempotencyObject = class IdempotencyObject extends Parent {
    readonly #state: DurableObjectStateLike;
    #sql: SqlStorageLike | undefined;

    constructor(ctx: DurableObjectStateLike, env: unknown) {
      super(ctx, env);
      this.#state = ctx;
    }

    /** The storage, with the table created once per instance (and again after deleteAll). */
    #table(): SqlStorageLike {
      if (this.#sql) return this.#sql;
      let sql: SqlStorageLike;
      try {
        sql = this.#state.storage.sql;
        sql.exec(SCHEMA);
      } catch (error) {
        // A key-value-backed object has no SQL (workerd throws on first use).
        throw new Error(NEEDS_SQLITE, { cause: error });
      }
      this.#sql = sql;
      return sql;
    }

    async perform(operation: Operation): Promise<Reply> {
      const sql = this.#table();
      const objectNow = Date.now();
      const at = operation.now ?? objectNow;
      const { key } = operation;
      const row = sql
        .exec(
          'SELECT state, fingerprint, token, deadline, status, headers, body FROM idem_records WHERE key = ?',
          key,
        )
        .toArray()[0] as Row | undefined;
      const before = stateOf(row);
      if (operation.type === 'read') return toRecord(observe(before, at)) ?? null;
      if (operation.type === 'remove') {
        sql.exec('DELETE FROM idem_records WHERE key = ?', key);
        return null;
      }
      const { next, result } = transition(before, { ...operation, now: at } as LifecycleEvent);
      if (next === before) return result;
      if (next.state === 'absent') {
        sql.exec('DELETE FROM idem_records WHERE key = ?', key);
      } else {
        const deadline = next.state === 'in_progress' ? next.leaseExpiresAt : next.expiresAt;
        const purgeAt =
          operation.now === undefined ? deadline : objectNow + (deadline - at) + SKEW_GRACE_MS;
        const completed = next.state === 'completed' ? next.response : undefined;
        sql.exec(
          `INSERT OR REPLACE INTO idem_records
(key, state, fingerprint, token, deadline, status, headers, body, purge_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          key,
          next.state,
          next.fingerprint,
          next.state === 'in_progress' ? next.token : null,
          deadline,
          completed?.status ?? null,
          completed ? JSON.stringify(completed.headers) : null,
          completed?.body ?? null,
          purgeAt,
        );
      }
      // The state is written; the alarm only frees space, so it may follow.
      await this.#schedule(sql);
      return result;
    }

    async alarm(): Promise<void> {
      const sql = this.#table();
      sql.exec('DELETE FROM idem_records WHERE purge_at <= ?', Date.now());
      await this.#schedule(sql, true);
    }

    /**
     * Set the alarm to the next purge, or drop the object's storage when
     * nothing is left. `inAlarm`: called by the alarm handler, which must set
     * the next alarm itself.
     */
    async #schedule(sql: SqlStorageLike, inAlarm = false): Promise<void> {
      const next = sql.exec('SELECT min(purge_at) AS at FROM idem_records').toArray()[0]?.at;
      const { storage } = this.#state;
      if (typeof next === 'number') {
        if (inAlarm) return storage.setAlarm(next);
        const current = await storage.getAlarm();
        // Already set there: nothing to write. Already due: its handler runs
        // (or is running) and sets the next one when it is done; moving it now
        // would cancel that run (workerd warns when it has to).
        if (current === next || (current !== null && current <= Date.now())) return;
        return storage.setAlarm(next);
      }
      // An object with no stored data costs nothing and is forgotten. No call
      // can slip in before deleteAll(): a Durable Object's input gate holds
      // every other event while its storage operations run.
      this.#sql = undefined;
      await storage.deleteAlarm();
      await storage.deleteAll();
    }
  };
  return IdempotencyObject as unknown as IdempotencyObjectClass;
}
