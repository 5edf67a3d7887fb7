// @idem/web's README: a Fetch handler, served on Node by @hono/node-server, called with @idem/client.
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { idempotencyInfo, idempotentFetch } from '@idem/client';
import { memoryStore } from '@idem/store-memory';
import { claimOf, idempotency } from '@idem/web';
import { postTwice } from './exercise.cjs';

let runs = 0;
const charge = async (body, { idempotency }) => ({
  id: randomUUID(),
  run: ++runs,
  amount: body.amount,
  key: idempotency.key,
});

const idem = idempotency({
  store: memoryStore(),
  scope: (request) => request.headers.get('authorization') ?? 'anonymous',
});
const POST = idem(async (request) =>
  Response.json(await charge(await request.json(), { idempotency: claimOf(request) }), {
    status: 201,
  }),
);

const server = await new Promise((resolve) => {
  const s = serve({ fetch: POST, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
});
const url = `http://127.0.0.1:${server.address().port}/payments`;
const result = await postTwice(
  url,
  { idempotentFetch, idempotencyInfo },
  { authorization: 'acct_1' },
);
server.close();
console.log(JSON.stringify({ runs, ...result }));
