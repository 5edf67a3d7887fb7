// @idem/store-postgres's README: the store on a pg pool, its migration, a
// Hono app whose handler writes the payment in the store's transaction, and
// run() on the engine.
import { serve } from '@hono/node-server';
import { idempotencyInfo, idempotentFetch } from '@idem/client';
import { createIdempotency } from '@idem/core';
import { idempotency } from '@idem/hono';
import { postgresStore } from '@idem/store-postgres';
import { Hono } from 'hono';
import pg from 'pg';
import { postTwice } from './exercise.cjs';

const table = `idem_tarballs_${process.env.RUN_ID}`;
const payments = `payments_tarballs_${process.env.RUN_ID}`;
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  connectionTimeoutMillis: 2_000,
});
pool.on('error', (error) => console.error('idle pg client failed', error)); // pg needs a listener
const store = postgresStore({ pool, table });
await store.migrate(); // or run schema.sql in your own migrations
await pool.query(`CREATE TABLE ${payments} (id serial PRIMARY KEY, account text, amount int)`);

let runs = 0;
const app = new Hono();
app.use('/payments', idempotency({ store, scope: (c) => c.req.header('x-account-id') ?? '' }));
app.post('/payments', async (c) => {
  runs++;
  const tx = await store.transaction(c.get('idempotency')); // a pg client inside BEGIN
  const { rows } = await tx.query(
    `INSERT INTO ${payments} (account, amount) VALUES ($1, $2) RETURNING id`,
    [c.req.header('x-account-id'), 1999],
  );
  return c.json({ id: rows[0]?.id, run: runs }, 201);
});

const server = await new Promise((resolve) => {
  const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
});
const url = `http://127.0.0.1:${server.address().port}/payments`;
const http = await postTwice(
  url,
  { idempotentFetch, idempotencyInfo },
  { 'x-account-id': 'acct_1' },
);
server.close();
const paymentRows = (await pool.query(`SELECT count(*)::int AS n FROM ${payments}`)).rows[0].n;

const idem = createIdempotency({ store });
let executions = 0;
const job = () => ({ sent: ++executions });
const outcomes = [await idem.run('job-1', job), await idem.run('job-1', job)];

await pool.query(`DROP TABLE ${payments}; DROP TABLE ${table}`);
await pool.end();
console.log(JSON.stringify({ runs, ...http, paymentRows, outcomes, executions }));
