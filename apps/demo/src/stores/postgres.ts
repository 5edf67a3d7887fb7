import { postgresStore } from '@idem/store-postgres';
import pg from 'pg';
import type { DemoStore } from '../stores.ts';

/**
 * The PostgreSQL store on DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
 * in tables of its own per run, dropped on close. Each payment row is written
 * in the transaction that completes its idempotency record, so a payment row
 * exists exactly when its record does.
 */
export async function open(): Promise<DemoStore> {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const intended = Number(process.env.DEMO_PAYMENTS ?? 500);
  const pool = new pg.Pool({ connectionString: url, max: 20, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {}); // a lost idle connection is replaced; the store answers 503 meanwhile
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end();
    throw new Error(
      `IDEM_STORE=postgres: PostgreSQL is not reachable at ${url} (${(error as Error).message}). Start PostgreSQL or point DATABASE_URL at one.`,
    );
  }
  const run = Date.now().toString(36);
  const table = `idem_demo_${run}`;
  const payments = `idem_demo_payments_${run}`;
  const store = postgresStore({ pool, table });
  await store.migrate();
  // No unique constraint on reference: a double execution would show as a second row.
  await pool.query(
    `CREATE TABLE ${payments} (id bigserial PRIMARY KEY, reference text NOT NULL, charge_id text NOT NULL, amount integer NOT NULL)`,
  );
  return {
    store,
    label: `postgres store (${url.replace(/\/\/[^@/]*@/, '//')})`,
    async onCharged({ reference, chargeId, amount }, context) {
      if (!context) throw new Error('the postgres demo needs the idempotency middleware');
      // The payment row joins the transaction idem commits the record in.
      const tx = await store.transaction(context);
      await tx.query(`INSERT INTO ${payments} (reference, charge_id, amount) VALUES ($1, $2, $3)`, [
        reference,
        chargeId,
        amount,
      ]);
    },
    async report() {
      const { rows } = await pool.query(
        `SELECT (SELECT count(*)::int FROM ${payments}) AS rows,
                (SELECT count(DISTINCT reference)::int FROM ${payments}) AS refs,
                (SELECT count(*)::int FROM ${table} WHERE state = 'completed') AS completed`,
      );
      const { rows: n, refs, completed } = rows[0];
      const verdict = n === intended && refs === intended ? '=' : '!=';
      return `postgres: payment rows ${n} ${verdict} payments intended ${intended} (${refs} distinct references, ${completed} completed records; each row committed with its record); tables dropped on exit`;
    },
    async close() {
      await pool.query(`DROP TABLE IF EXISTS ${table}, ${payments}`);
      await pool.end();
    },
  };
}
