/**
 * PostgreSQL for the cost tool: idem's store and the hand-written floor on
 * one pg.Pool, database CPU from the pool's own backends (/proc), and the
 * replay write proof (pg_stat_user_tables and WAL).
 */
import type { Store } from '@idem/core/store';
import { postgresStore } from '@idem/store-postgres';
import pg from 'pg';
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

/** The database, its pool of `poolSize` connections, and the backends that serve them. */
export interface PostgresTarget {
  readonly server: string;
  readonly pool: pg.Pool;
  /** idem's table and the floor's (same columns and indexes). */
  readonly table: string;
  readonly floorTable: string;
  readonly store: Store;
  readonly meter: DbMeter;
  readonly floor: Way;
  readonly idem: Way;
  close(): Promise<void>;
}

/** Connect, create both tables, and pin the pool to its backends. */
export async function openPostgres(
  url: string,
  poolSize: number,
  run: string,
): Promise<PostgresTarget> {
  // idleTimeoutMillis 0: idle clients are never closed, so the backends measured stay the pool's.
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: 3_000,
  });
  pool.on('error', () => {});
  const table = `cost_idem_${run}`;
  const floorTable = `cost_floor_${run}`;
  try {
    const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
    const store = postgresStore({ pool, table });
    await store.migrate();
    await pool.query(`CREATE TABLE ${floorTable} (LIKE ${table} INCLUDING ALL)`);
    // Every connection at once, so each is a backend of its own, held for the whole run.
    const clients = await Promise.all(Array.from({ length: poolSize }, () => pool.connect()));
    const pids = await Promise.all(
      clients.map(
        async (c) =>
          (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
      ),
    );
    for (const c of clients) c.release();
    const ttl = 3_600_000;
    const floor: Way = {
      first: [
        async (key) => {
          await pool.query({
            name: 'floor-claim',
            text: `INSERT INTO ${floorTable} (key, fingerprint, state, token, expires_at)
VALUES ($1, $2, 'in_progress', $3, statement_timestamp() + $4::float8 * interval '1 millisecond')
ON CONFLICT DO NOTHING`,
            values: [key, FINGERPRINT, token(), 30_000],
          });
        },
        async (key) => {
          await pool.query({
            name: 'floor-complete',
            text: `UPDATE ${floorTable} SET state = 'completed', token = NULL,
expires_at = statement_timestamp() + $2::float8 * interval '1 millisecond',
status = $3, headers = $4::jsonb, body = $5 WHERE key = $1`,
            values: [key, ttl, RESPONSE.status, JSON.stringify(RESPONSE.headers), RESPONSE.body],
          });
        },
      ],
      replay: [
        async (key) => {
          const { rows } = await pool.query({
            name: 'floor-read',
            text: `SELECT state, fingerprint, expires_at, status, headers, body FROM ${floorTable} WHERE key = $1`,
            values: [key],
          });
          if (rows[0]?.state !== 'completed') throw new Error(`${key}: floor row not completed`);
        },
      ],
    };
    return {
      server: `PostgreSQL ${rows[0]!.server_version.split(' ')[0]}`,
      pool,
      table,
      floorTable,
      store,
      meter: procMeter(() => pids),
      floor,
      idem: idemWay(store),
      async close() {
        await pool.query(`DROP TABLE IF EXISTS ${table}, ${floorTable}`);
        await pool.end();
      },
    };
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
}

/** Counters of `table` and the WAL position, after the pool's backends flushed their statistics. */
async function counters(
  pool: pg.Pool,
  table: string,
  poolSize: number,
): Promise<Record<string, number>> {
  // Backends flush table statistics when idle, at most once a second: wait
  // that out, then ask every backend of the pool to flush at its next
  // transaction end (PostgreSQL 15+) and give each one.
  await new Promise((r) => setTimeout(r, 1_100));
  const clients = await Promise.all(Array.from({ length: poolSize }, () => pool.connect()));
  try {
    for (const c of clients) await c.query('SELECT pg_stat_force_next_flush()');
    for (const c of clients) await c.query('SELECT 1');
    const reader = clients[0]!;
    await reader.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await reader.query<Record<string, string>>(
      `SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_dead_tup,
pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS wal_bytes
FROM pg_stat_user_tables WHERE relname = $1`,
      [table],
    );
    const row = rows[0];
    if (!row) throw new Error(`pg_stat_user_tables has no row for ${table}`);
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  } finally {
    for (const c of clients) c.release();
  }
}

const delta = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));

/**
 * Complete `keys` keys through idem, then replay them until `replays`
 * replays ran; the table's counters and WAL bytes over each part, and over
 * as long again with no requests.
 */
export async function postgresWriteProof(
  target: PostgresTarget,
  keys: number,
  replays: number,
  concurrency: number,
  poolSize: number,
  run: string,
): Promise<{
  first: Record<string, number>;
  replay: Record<string, number>;
  idle: Record<string, number>;
}> {
  const way = target.idem;
  const names = Array.from({ length: keys }, (_, i) => `${run}-proof-${i}`);
  const c0 = await counters(target.pool, target.table, poolSize);
  for (const phase of way.first) await drive(names, phase, concurrency);
  const c1 = await counters(target.pool, target.table, poolSize);
  const replayKeys = Array.from({ length: replays }, (_, i) => names[i % names.length]!);
  const started = performance.now();
  await drive(replayKeys, way.replay[0]!, concurrency);
  const took = performance.now() - started;
  const c2 = await counters(target.pool, target.table, poolSize);
  // The same time again with no requests: what the server writes on its own (purge, checkpoints).
  await new Promise((r) => setTimeout(r, took));
  const c3 = await counters(target.pool, target.table, poolSize);
  return { first: delta(c0, c1), replay: delta(c1, c2), idle: delta(c2, c3) };
}
