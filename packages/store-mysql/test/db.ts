import { reachServer } from '@idem/conformance';
import mysql from 'mysql2/promise';

/** The test database: root without a password on 127.0.0.1, as on the dev machines and in .ci/run. */
export const MYSQL_URL: string = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

const pools: mysql.Pool[] = [];

/** A pool on the test database; ended by `endPools`. */
export function newPool(config: mysql.PoolOptions = {}): mysql.Pool {
  const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 10, ...config });
  pools.push(pool);
  return pool;
}

/** End the given pools, or every pool `newPool` made. */
export async function endPools(which: mysql.Pool[] = pools): Promise<void> {
  const ending = which === pools ? pools.splice(0) : which;
  await Promise.all(ending.map((p) => p.end().catch(() => {})));
}

/** A table name no other test file or run uses. */
export function uniqueTable(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Drop a table made by `migrate()` and its stored procedures. */
export async function dropStore(pool: mysql.Pool, table: string): Promise<void> {
  for (const routine of ['claim_v1', 'claim_v2', 'begin_v1', 'commit_v1']) {
    await pool.query(`DROP PROCEDURE IF EXISTS ${table}_${routine}`);
  }
  await pool.query(`DROP TABLE IF EXISTS ${table}`);
}

const probe = mysql.createPool({ uri: MYSQL_URL, connectTimeout: 3_000, connectionLimit: 1 });
/** Whether MySQL/MariaDB answers: skips loudly locally, throws under CI=true. */
export const up: boolean = await reachServer('MySQL/MariaDB', MYSQL_URL, () =>
  probe.query('SELECT 1'),
).finally(() => probe.end());

/**
 * Record every command each connection of `pool` sends: one request, one
 * answer, so one round trip each. Queries are named by their first word,
 * CALLs by the procedure (`CALL claim`).
 */
export function countRoundTrips(pool: mysql.Pool): string[] {
  const sent: string[] = [];
  pool.on('connection', (connection) => {
    const core = connection as unknown as { addCommand(command: unknown): unknown };
    const add = core.addCommand.bind(core);
    core.addCommand = (command: unknown) => {
      const sql = (command as { sql?: string }).sql;
      const call = sql && /^CALL\s+\S*?_(claim|begin|commit)_v\d+`?\(/.exec(sql);
      const name = call
        ? `CALL ${call[1]}`
        : (sql?.trim().split(/\s+/)[0] ?? (command as object).constructor.name);
      sent.push(name);
      return add(command);
    };
  });
  return sent;
}

/** The ids of the server connections `pool` opened (for KILL), as they open. */
export function connectionIds(pool: mysql.Pool): Set<number> {
  const ids = new Set<number>();
  pool.on('connection', (connection) => {
    ids.add((connection as unknown as { threadId: number }).threadId);
  });
  return ids;
}

/**
 * idem's log, kept instead of printed: tests that fail the store on purpose
 * check what idem reported there.
 */
export function keptLog(): { lines: string[]; logger: { warn: Keep; error: Keep } } {
  const lines: string[] = [];
  const keep: Keep = (message) => void lines.push(message);
  return { lines, logger: { warn: keep, error: keep } };
}
type Keep = (message: string, ...details: unknown[]) => void;
