import { reachServer } from '@idem/conformance';
import pg from 'pg';

/** The test database; trust auth on 127.0.0.1 as on the dev machines and in .ci/run. */
export const DATABASE_URL: string =
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A name no other test file or run uses (lower case: a table, a queue, a stream). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** A pool on the test database, with the `error` listener pg asks for. */
export function testPool(max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {});
  return pool;
}

/** Whether PostgreSQL answers: skips loudly locally, throws under CI=true. */
export async function reachPostgres(): Promise<boolean> {
  const probe = testPool(1);
  try {
    return await reachServer('PostgreSQL', DATABASE_URL, () => probe.query('SELECT 1'));
  } finally {
    await probe.end();
  }
}
