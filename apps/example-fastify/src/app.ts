import { idempotency, type Store } from '@idem/fastify';
import Fastify, { type FastifyInstance } from 'fastify';

/** A fake card processor: every call is a real charge, so a retried call is a double charge. */
export class PaymentGateway {
  charges = 0;

  async charge(amount: number): Promise<string> {
    this.charges++;
    return `ch_${this.charges}_${amount}`;
  }
}

/** The payments API: `POST /payments` charges a card once per `Idempotency-Key`. */
export async function paymentsApp(options: {
  store: Store;
  gateway: PaymentGateway;
}): Promise<FastifyInstance> {
  const app = Fastify();
  // Stand-in for authentication: the merchant a request comes from.
  app.addHook('onRequest', async (request, reply) => {
    if (!request.headers['x-merchant']) {
      return reply.code(401).send({ error: 'send an X-Merchant header' });
    }
  });
  // Each merchant has its own key space, so one merchant can never replay another's payment.
  await app.register(idempotency, {
    store: options.store,
    scope: (request) => String(request.headers['x-merchant']),
  });
  app.post<{ Body: { amount: number } }>(
    '/payments',
    {
      schema: {
        body: {
          type: 'object',
          required: ['amount'],
          properties: { amount: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (request, reply) => {
      const { amount } = request.body;
      const id = await options.gateway.charge(amount);
      return reply.code(201).send({ id, amount, status: 'succeeded' });
    },
  );
  return app;
}
