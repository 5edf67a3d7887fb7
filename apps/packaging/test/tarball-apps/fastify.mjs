// @idem/fastify's README, called with @idem/client.
import { randomUUID } from 'node:crypto';
import { idempotencyInfo, idempotentFetch } from '@idem/client';
import { idempotency } from '@idem/fastify';
import { memoryStore } from '@idem/store-memory';
import Fastify from 'fastify';
import { postTwice } from './exercise.cjs';

let runs = 0;
const charge = async (body, { idempotency }) => ({
  id: randomUUID(),
  run: ++runs,
  amount: body.amount,
  key: idempotency.key,
});
// Decorates request.user, as the README's authentication plugin does (hooks on the root instance).
const authentication = async (instance) => {
  instance.decorateRequest('user', null);
  instance.addHook('onRequest', async (request) => {
    request.user = { accountId: request.headers.authorization ?? 'anonymous' };
  });
};
authentication[Symbol.for('skip-override')] = true;

const app = Fastify();
await app.register(authentication);
await app.register(idempotency, {
  store: memoryStore(),
  scope: (request) => request.user.accountId,
});
app.post('/payments', async (request, reply) => {
  const payment = await charge(request.body, { idempotency: request.idempotency });
  return reply.code(201).send(payment);
});

const url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/payments`;
const result = await postTwice(
  url,
  { idempotentFetch, idempotencyInfo },
  { authorization: 'acct_1' },
);
await app.close();
console.log(JSON.stringify({ runs, ...result }));
