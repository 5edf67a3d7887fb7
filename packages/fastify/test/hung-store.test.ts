import { describeHungStores } from '@idem/test-stores';
import Fastify from 'fastify';
import { idempotency } from '../src/index.js';

describeHungStores('fastify', async (options) => {
  let runs = 0;
  const app = Fastify();
  await app.register(idempotency, { ...options, scope: () => 'tenant' });
  app.post('/pay', async (_request, reply) => reply.code(201).send({ charged: ++runs }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, runs: () => runs, close: () => app.close() };
});
