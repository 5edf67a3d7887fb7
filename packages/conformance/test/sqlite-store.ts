/**
 * A SQLite store on better-sqlite3, a synchronous driver, for the
 * `connections` checks' own test: each store opens its own `Database` on one
 * file, as separate app instances would.
 *
 * - `'check-then-set'`: the naive bug. The claim SELECTs, then INSERTs in a
 *   second statement with no transaction around them. No `await` between
 *   the two, so in one process no other claim can come between them, and
 *   every check that races claims inside one process passes; two processes
 *   on the file still both find a key free.
 * - `'immediate'`: the same two statements in a `BEGIN IMMEDIATE`
 *   transaction, which takes the file's write lock before the read.
 */
import type { OwnerResult, Store, StoredRecord, StoredResponse } from '@idem/core/store';
import Database from 'better-sqlite3';

export type ClaimStyle = 'check-then-set' | 'immediate';

/** What `sqliteStore` and its process module take. */
export interface SqliteStoreInput {
  readonly file: string;
  readonly style: ClaimStyle;
}

interface Row {
  state: 'in_progress' | 'completed';
  fingerprint: string;
  token: string;
  deadline: number;
  status: number | null;
  headers: string | null;
  body: Uint8Array | null;
}

/** Create the table (once, before any process opens the file). */
export function createTable(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, fingerprint TEXT NOT NULL, token TEXT NOT NULL,
    deadline INTEGER NOT NULL, status INTEGER, headers TEXT, body BLOB)`);
  db.close();
}

/** A store on its own connection to `file`; `close()` closes the connection. */
export function sqliteStore({ file, style }: SqliteStoreInput): Store & { close(): void } {
  const db = new Database(file, { timeout: 10_000 });
  const select = db.prepare<[string], Row>('SELECT * FROM records WHERE key = ?');
  // The claim "knows" the key is free (it just looked), so it writes unconditionally.
  const write = db.prepare(
    `INSERT OR REPLACE INTO records (key, state, fingerprint, token, deadline)
     VALUES (?, 'in_progress', ?, ?, ?)`,
  );
  const renew = db.prepare(
    `UPDATE records SET deadline = @deadline
     WHERE key = @key AND token = @token AND state = 'in_progress' AND deadline > @now`,
  );
  const complete = db.prepare(
    `UPDATE records SET state = 'completed', deadline = @deadline, status = @status, headers = @headers, body = @body
     WHERE key = @key AND token = @token AND state = 'in_progress' AND deadline > @now`,
  );
  const release = db.prepare(
    `DELETE FROM records WHERE key = ? AND token = ? AND state = 'in_progress' AND deadline > ?`,
  );
  const remove = db.prepare('DELETE FROM records WHERE key = ?');

  const live = (key: string): Row | undefined => {
    const row = select.get(key);
    return row && row.deadline > Date.now() ? row : undefined;
  };
  const claim = (key: string, fingerprint: string, token: string, leaseMs: number) => {
    const row = live(key);
    if (row && !(row.state === 'in_progress' && row.token === token)) return toRecord(row);
    if (!row) write.run(key, fingerprint, token, Date.now() + leaseMs);
    return undefined;
  };
  const immediate = db.transaction(claim);
  const owner = (changes: number): OwnerResult => (changes === 1 ? 'ok' : 'stale');

  return {
    async claim(key, { fingerprint, token, leaseMs }) {
      const args = [key, fingerprint, token, leaseMs] as const;
      const record = style === 'immediate' ? immediate.immediate(...args) : claim(...args);
      return record ? { claimed: false, record } : { claimed: true };
    },
    async complete(key, token, response: StoredResponse, ttlMs) {
      const { changes } = complete.run({
        key,
        token,
        now: Date.now(),
        deadline: Date.now() + ttlMs,
        status: response.status,
        headers: JSON.stringify(response.headers),
        body: response.body,
      });
      return owner(changes);
    },
    async renew(key, token, leaseMs) {
      const now = Date.now();
      return owner(renew.run({ key, token, now, deadline: now + leaseMs }).changes);
    },
    async release(key, token) {
      return owner(release.run(key, token, Date.now()).changes);
    },
    async read(key) {
      const row = live(key);
      return row && toRecord(row);
    },
    async remove(key) {
      remove.run(key);
    },
    close: () => db.close(),
  };
}

function toRecord(row: Row): StoredRecord {
  if (row.state === 'in_progress') {
    return { state: 'in_progress', fingerprint: row.fingerprint, leaseExpiresAt: row.deadline };
  }
  return {
    state: 'completed',
    fingerprint: row.fingerprint,
    expiresAt: row.deadline,
    response: {
      status: row.status!,
      headers: JSON.parse(row.headers!) as [string, string][],
      body: new Uint8Array(row.body!),
    },
  };
}
