import { reachServer } from '@idem/conformance';
import pg from 'pg';

/** The test database; trust auth on 127.0.0.1 as on the dev machines and in .ci/run. */
export const DATABASE_URL: string =
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const pools: pg.Pool[] = [];

/** A pool on the test database with the `error` listener pg asks for; ended by `endPools`. */
export function newPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: DATABASE_URL,
    max: 10,
    idleTimeoutMillis: 1_000,
    ...config,
  });
  pool.on('error', () => {}); // terminated idle clients are expected in these tests
  pools.push(pool);
  return pool;
}

/** End the given pools, or every pool `newPool` made. */
export async function endPools(which: pg.Pool[] = pools): Promise<void> {
  const ending = which === pools ? pools.splice(0) : which;
  await Promise.all(ending.map((p) => (p.ended ? undefined : p.end())));
}

/** A table name no other test file or run uses. */
export function uniqueTable(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

const probe = new pg.Pool({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
probe.on('error', () => {});
/** Whether PostgreSQL answers: skips loudly locally, throws under CI=true. */
export const up: boolean = await reachServer('PostgreSQL', DATABASE_URL, () =>
  probe.query('SELECT 1'),
).finally(() => probe.end());

/** Wrap every client's `query` to record the statements sent, one per round trip. */
export function countStatements(pool: pg.Pool): string[] {
  const sent: string[] = [];
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text: string };
      sent.push((typeof first === 'string' ? first : first.text).trim().split(/\s+/)[0]!);
      return query(...args);
    };
  });
  return sent;
}

/** No client checked out or waiting: every transaction returned its client. */
export function idle(pool: pg.Pool): { total: number; idle: number; waiting: number } {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
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
