/**
 * MySQL/MariaDB for the cost tool: idem's store and the hand-written floor on
 * one mysql2 pool, database CPU of the whole mariadbd (or mysqld) process
 * (/proc), and the replay write proof (global status counters and the redo log).
 */
import { execFileSync } from 'node:child_process';
import type { Store } from '@idem/core/store';
import { mysqlStore } from '@idem/store-mysql';
import mysql from 'mysql2/promise';
import {
  type DbMeter,
  drive,
  FINGERPRINT,
  idemWay,
  procMeter,
  RESPONSE,
  token,
  type Way,
} from './run.ts';

/** The database clock in epoch milliseconds, as the store computes it. */
const NOW_MS = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";

/** The server, its pool, idem's table and the floor's. */
export interface MysqlTarget {
  readonly server: string;
  readonly pool: mysql.Pool;
  readonly table: string;
  readonly store: Store;
  readonly meter: DbMeter;
  readonly floor: Way;
  readonly idem: Way;
  /** The pool sessions' Handler counters, and the server's with its redo log position: what the write proof compares. */
  counters(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** The server process on this machine: mariadbd, else mysqld. */
function serverPid(): number {
  for (const name of ['mariadbd', 'mysqld']) {
    try {
      return Number(execFileSync('pgrep', ['-o', '-x', name], { encoding: 'utf8' }).trim());
    } catch {
      // not running under this name
    }
  }
  throw new Error('no mariadbd or mysqld process on this machine: its CPU cannot be read');
}

/** Connect, create both tables. */
export async function openMysql(url: string, poolSize: number, run: string): Promise<MysqlTarget> {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: poolSize,
    maxIdle: poolSize,
    connectTimeout: 3_000,
  });
  pool.on('connection', () => {});
  const table = `cost_idem_${run}`;
  const floorTable = `cost_floor_${run}`;
  try {
    const [[version]] = (await pool.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
    const pid = serverPid();
    const store = mysqlStore({ pool, table });
    await store.migrate();
    await pool.query(`CREATE TABLE ${floorTable} LIKE ${table}`);
    const ttl = 3_600_000;
    const floor: Way = {
      first: [
        async (key) => {
          await pool.execute(
            `INSERT IGNORE INTO ${floorTable} (\`key\`, fingerprint, state, token, expires_at) VALUES (?, ?, 'in_progress', ?, ${NOW_MS} + ?)`,
            [key, FINGERPRINT, token(), 30_000],
          );
        },
        async (key) => {
          await pool.execute(
            `UPDATE ${floorTable} SET state = 'completed', token = NULL, expires_at = ${NOW_MS} + ?, status = ?, headers = ?, body = ? WHERE \`key\` = ?`,
            [
              ttl,
              RESPONSE.status,
              JSON.stringify(RESPONSE.headers),
              Buffer.from(RESPONSE.body),
              key,
            ],
          );
        },
      ],
      replay: [
        async (key) => {
          const [rows] = (await pool.execute(
            `SELECT state, fingerprint, expires_at, status, headers, body FROM ${floorTable} WHERE \`key\` = ?`,
            [key],
          )) as unknown as [Array<{ state: string }>];
          if (rows[0]?.state !== 'completed') throw new Error(`${key}: floor row not completed`);
        },
      ],
    };
    const name = /mariadb/i.test(version.v) ? 'MariaDB' : 'MySQL';
    return {
      server: `${name} ${version.v.split('-')[0]}`,
      pool,
      table,
      store,
      meter: procMeter(() => [pid]),
      floor,
      idem: idemWay(store),
      async counters() {
        // Handler_* of the pool's own sessions (every connection at once, so
        // each is read), so other clients of the server stay out; the redo
        // log position is server-wide.
        const connections = await Promise.all(
          Array.from({ length: poolSize }, () => pool.getConnection()),
        );
        const counts: Record<string, number> = {};
        try {
          for (const c of connections) {
            const [rows] = (await c.query(
              `SHOW SESSION STATUS WHERE Variable_name IN ('Handler_write', 'Handler_update', 'Handler_delete')`,
            )) as unknown as [Array<{ Variable_name: string; Value: string }>];
            for (const r of rows) {
              const name = `${r.Variable_name} (pool sessions)`;
              counts[name] = (counts[name] ?? 0) + Number(r.Value);
            }
          }
          const [rows] = (await connections[0]!.query(
            `SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_write', 'Handler_update', 'Innodb_lsn_current', 'Innodb_os_log_written')`,
          )) as unknown as [Array<{ Variable_name: string; Value: string }>];
          for (const r of rows) counts[`${r.Variable_name} (server)`] = Number(r.Value);
        } finally {
          for (const c of connections) c.release();
        }
        return counts;
      },
      async close() {
        const [routines] = (await pool.query(
          'SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME LIKE ?',
          [`${table}\\_%`],
        )) as unknown as [Array<{ name: string }>];
        for (const r of routines) await pool.query(`DROP PROCEDURE IF EXISTS \`${r.name}\``);
        await pool.query(`DROP TABLE IF EXISTS ${table}, ${floorTable}`);
        await pool.end();
      },
    };
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
}

const delta = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));

/**
 * Complete `keys` keys through idem, then replay them until `replays`
 * replays ran; the counters over each part, and over as long again with no
 * requests (the `(server)` ones are server-wide: anyone else's work on the
 * server lands in them too).
 */
export async function mysqlWriteProof(
  target: MysqlTarget,
  keys: number,
  replays: number,
  concurrency: number,
  run: string,
): Promise<{
  first: Record<string, number>;
  replay: Record<string, number>;
  idle: Record<string, number>;
}> {
  const names = Array.from({ length: keys }, (_, i) => `${run}-proof-${i}`);
  const c0 = await target.counters();
  for (const phase of target.idem.first) await drive(names, phase, concurrency);
  const c1 = await target.counters();
  const replayKeys = Array.from({ length: replays }, (_, i) => names[i % names.length]!);
  const started = performance.now();
  await drive(replayKeys, target.idem.replay[0]!, concurrency);
  const took = performance.now() - started;
  const c2 = await target.counters();
  // The same time again with no requests: what the server writes on its own (purge, checkpoints).
  await new Promise((r) => setTimeout(r, took));
  const c3 = await target.counters();
  return { first: delta(c0, c1), replay: delta(c1, c2), idle: delta(c2, c3) };
}
