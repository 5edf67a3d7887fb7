// @idem/hono's README on @hono/node-server, called with @idem/client.
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { idempotencyInfo, idempotentFetch } from '@idem/client';
import { idempotency } from '@idem/hono';
import { memoryStore } from '@idem/store-memory';
import { Hono } from 'hono';
import { postTwice } from './exercise.cjs';

let runs = 0;
const charge = async (body, { idempotency }) => ({
  id: randomUUID(),
  run: ++runs,
  amount: body.amount,
  key: idempotency.key,
});
const authenticate = async (c, next) => {
  c.set('accountId', c.req.header('authorization') ?? 'anonymous');
  await next();
};

const app = new Hono();
app.use('/payments/*', authenticate);
app.use('/payments/*', idempotency({ store: memoryStore(), scope: (c) => c.get('accountId') }));
app.post('/payments', async (c) =>
  c.json(await charge(await c.req.json(), { idempotency: c.get('idempotency') }), 201),
);

const server = await new Promise((resolve) => {
  const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
});
const url = `http://127.0.0.1:${server.address().port}/payments`;
const result = await postTwice(
  url,
  { idempotentFetch, idempotencyInfo },
  { authorization: 'acct_1' },
);
server.close();
console.log(JSON.stringify({ runs, ...result }));
