// The user's app, written once and run under every way of loading idem's
// packages (see module-copies.test.ts): Express with the Postgres store's
// transactional completion, and with the DynamoDB store at its item limit.
// It prints what happened as one JSON line.
const { once } = require('node:events');
const http = require('node:http');
const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const dynalite = require('dynalite');
const express = require('express');
const pg = require('pg');

async function listen(app) {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}`, server };
}

// node:http, not fetch: the DynamoDB case answers with 80 KB of headers, over fetch's limit.
function post(url, key, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: { 'idempotency-key': key, 'content-type': 'application/json' },
        maxHeaderSize: 1 << 20,
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          let type;
          try {
            type = JSON.parse(Buffer.concat(chunks).toString()).type;
          } catch {}
          resolve({ status: res.statusCode, type });
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body ?? {}));
  });
}

// A payment whose COMMIT fails: the handler swallows a failed statement, so
// PostgreSQL answers COMMIT with ROLLBACK. Its row must never be kept, and
// the client must never be told 201.
async function postgresRollback({ idempotency, postgresStore }, run) {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  });
  pool.on('error', () => {});
  const table = `idem_copies_${run}`;
  const payments = `payments_copies_${run}`;
  const store = postgresStore({ pool, table });
  await store.migrate();
  await pool.query(`CREATE TABLE ${payments} (id text PRIMARY KEY)`);
  let fail = true;
  let runs = 0;
  const app = express();
  app.use(express.json());
  app.use(idempotency({ store, scope: () => 'merchant', logger: false }));
  app.post('/payments', async (req, res) => {
    runs++;
    const tx = await store.transaction(req.idempotency);
    await tx.query(`INSERT INTO ${payments} (id) VALUES ($1)`, [req.body.id]);
    if (fail) {
      fail = false;
      await tx.query(`INSERT INTO ${payments} (id) VALUES ($1)`, [req.body.id]).catch(() => {});
    }
    res.status(201).json({ id: req.body.id });
  });
  const { url, server } = await listen(app);
  const rows = async () =>
    (await pool.query(`SELECT count(*)::int AS n FROM ${payments}`)).rows[0].n;
  const answers = [];
  const rowCounts = [];
  for (let i = 0; i < 3; i++) {
    answers.push(await post(`${url}/payments`, 'pay-1', { id: 'p1' }));
    // A failed completion is retried in the background: give it time to (wrongly) land.
    await new Promise((r) => setTimeout(r, 300));
    rowCounts.push(await rows());
  }
  server.close();
  await pool.query(`DROP TABLE ${payments}; DROP TABLE ${table}`);
  await pool.end();
  return { answers, rowCounts, runs };
}

// A response under the store's body limit whose headers push the item over
// DynamoDB's 400 KB: the store refuses it as too large, and idem must record
// "ran, not stored" (410 on retry), never retry it as a store failure.
async function dynamoTooLarge({ idempotency, dynamoDbStore }, run) {
  const server = dynalite({ createTableMs: 0 });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${server.address().port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const store = dynamoDbStore({ client, tableName: `idem-copies-${run}` });
  await store.createTable();
  let runs = 0;
  const app = express();
  app.use(idempotency({ store, scope: () => 'tenant', leaseMs: 2_000, logger: false }));
  app.post('/report', (_req, res) => {
    runs++;
    for (let i = 0; i < 8; i++) res.setHeader(`x-pad-${i}`, 'h'.repeat(10_000));
    res.type('application/octet-stream').send(Buffer.alloc(340 * 1024, 7));
  });
  const listening = await listen(app);
  const answers = [];
  for (let i = 0; i < 3; i++) {
    answers.push(await post(`${listening.url}/report`, 'report-1'));
    await new Promise((r) => setTimeout(r, 300));
  }
  listening.server.close();
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
  return { answers, runs };
}

module.exports = async function scenario(idem) {
  const run = `${process.pid}_${Date.now().toString(36)}`;
  const result = {
    postgres: await postgresRollback(idem, run),
    dynamodb: await dynamoTooLarge(idem, run),
  };
  console.log(JSON.stringify(result));
};
