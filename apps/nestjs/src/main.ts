import { memoryStore } from '@idem/store-memory';
import { PaymentGateway, paymentsApp } from './app.ts';

const port = Number(process.env.PORT ?? 3000);
const platform = process.env.PLATFORM === 'fastify' ? 'fastify' : 'express';
const app = await paymentsApp({ store: memoryStore(), gateway: new PaymentGateway(), platform });
await app.listen(port);
console.log(`payments API (NestJS on ${platform}) on http://localhost:${port}, try twice:
  curl -i -X POST localhost:${port}/payments -H 'x-merchant: m1' -H 'idempotency-key: order-1' \\
    -H 'content-type: application/json' -d '{"amount":1299}'`);
