import { mysqlStore } from '@idem/store-mysql';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import type { DemoStore } from '../stores.ts';

/**
 * The MySQL/MariaDB store on MYSQL_URL (default mysql://root@127.0.0.1:3306/test),
 * in tables of its own per run, dropped on close. Each payment row is written
 * in the transaction that completes its idempotency record, so a payment row
 * exists exactly when its record does.
 */
export async function open(): Promise<DemoStore> {
  const url = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
  const where = url.replace(/\/\/[^@/]*@/, '//');
  const intended = Number(process.env.DEMO_PAYMENTS ?? 500);
  const pool = mysql.createPool({ uri: url, connectionLimit: 20, connectTimeout: 5_000 });
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end();
    throw new Error(
      `IDEM_STORE=mysql: MySQL/MariaDB is not reachable at ${where} (${(error as Error).message}). Start MariaDB or MySQL, or point MYSQL_URL at one.`,
    );
  }
  const run = Date.now().toString(36);
  const table = `idem_demo_${run}`;
  const payments = `idem_demo_payments_${run}`;
  const store = mysqlStore({ pool, table });
  await store.migrate();
  // No unique constraint on reference: a double execution would show as a second row.
  await pool.query(
    `CREATE TABLE ${payments} (id BIGINT AUTO_INCREMENT PRIMARY KEY, reference VARCHAR(100) NOT NULL, charge_id VARCHAR(100) NOT NULL, amount INT NOT NULL)`,
  );
  return {
    store,
    label: `mysql store (${where})`,
    async onCharged({ reference, chargeId, amount }, context) {
      if (!context) throw new Error('the mysql demo needs the idempotency middleware');
      // The payment row joins the transaction idem commits the record in.
      const tx = await store.transaction(context);
      await tx.query(`INSERT INTO ${payments} (reference, charge_id, amount) VALUES (?, ?, ?)`, [
        reference,
        chargeId,
        amount,
      ]);
    },
    async report() {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT (SELECT count(*) FROM ${payments}) AS n,
                (SELECT count(DISTINCT reference) FROM ${payments}) AS refs,
                (SELECT count(*) FROM ${table} WHERE state = 'completed') AS completed`,
      );
      const { n, refs, completed } = rows[0]!;
      const verdict = Number(n) === intended && Number(refs) === intended ? '=' : '!=';
      return `mysql: payment rows ${n} ${verdict} payments intended ${intended} (${refs} distinct references, ${completed} completed records; each row committed with its record); tables dropped on exit`;
    },
    async close() {
      for (const routine of ['claim', 'begin', 'commit']) {
        await pool.query(`DROP PROCEDURE IF EXISTS ${table}_${routine}_v1`);
      }
      await pool.query(`DROP TABLE IF EXISTS ${table}, ${payments}`);
      await pool.end();
    },
  };
}
