import { type Accepted, describeWebhooks, reachableStores } from '@idem/test-stores';
import Fastify, { type FastifyRequest } from 'fastify';
import { afterAll } from 'vitest';
import { idempotency, webhooks } from '../src/index.js';

// Memory, and Redis when it answers (CI=true: it must).
const stores = await reachableStores({ label: 'fastify-webhooks', only: ['memory', 'redis'] });
afterAll(() => stores.close());

const header = (request: FastifyRequest) => (name: string) => {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

describeWebhooks('fastify', {
  webhooks,
  stores,
  async start({ store, routes, receive }) {
    const app = Fastify();
    await app.register(idempotency, { store });
    const deliveries = new WeakMap<FastifyRequest, Accepted>();
    const accepted = (request: FastifyRequest) => deliveries.get(request)!;
    // The webhook routes in a context of their own, whose JSON bodies stay raw
    // bytes for the signature; idem, registered on the app, covers them too.
    await app.register(async (hooks) => {
      hooks.addContentTypeParser(
        'application/json',
        { parseAs: 'buffer' },
        (_request, body, done) => done(null, body),
      );
      for (const route of routes) {
        hooks.post(
          route.path,
          {
            config: { idempotency: route.options(accepted) },
            // preValidation runs before idem's preHandler hook.
            preValidation: async (request, reply) => {
              const verdict = await route.verify(request.body as Buffer, header(request));
              if (!verdict.ok) return reply.code(verdict.status).send({ error: verdict.error });
              deliveries.set(request, verdict);
            },
          },
          async (request, reply) => {
            const body = (request.body as Buffer).toString('utf8');
            const answer = await receive(route, accepted(request), body, header(request));
            return reply.code(answer.status).send(answer.body);
          },
        );
      }
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  },
});
