// @idem/store-dynamodb's README against dynalite (the test passes its
// endpoint and dummy credentials in the usual AWS variables): a Hono app on
// the store, and run() on the engine.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { serve } from '@hono/node-server';
import { idempotencyInfo, idempotentFetch } from '@idem/client';
import { createIdempotency } from '@idem/core';
import { idempotency } from '@idem/hono';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { Hono } from 'hono';
import { postTwice } from './exercise.cjs';

const client = new DynamoDBClient({
  endpoint: process.env.DYNAMODB_ENDPOINT,
  // Fail fast: a store call that hangs holds the request until it times out.
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
});
const store = dynamoDbStore({ client, tableName: `idempotency-${process.env.RUN_ID}` });
await store.createTable();

let runs = 0;
const app = new Hono();
app.use('/payments/*', async (c, next) => {
  c.set('accountId', c.req.header('authorization') ?? 'anonymous');
  await next();
});
app.use('/payments/*', idempotency({ store, scope: (c) => c.get('accountId') }));
app.post('/payments/new', async (c) => c.json({ id: crypto.randomUUID(), run: ++runs }, 201));

const server = await new Promise((resolve) => {
  const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
});
const url = `http://127.0.0.1:${server.address().port}/payments/new`;
const http = await postTwice(
  url,
  { idempotentFetch, idempotencyInfo },
  { authorization: 'acct_1' },
);
server.close();

const idem = createIdempotency({ store });
let executions = 0;
const job = () => ({ sent: ++executions });
const outcomes = [await idem.run('job-1', job), await idem.run('job-1', job)];
client.destroy();
console.log(JSON.stringify({ runs, ...http, outcomes, executions }));
