import { memoryStore } from '@idem/store-memory';
import { PaymentGateway, paymentsApp } from './app.ts';

const port = Number(process.env.PORT ?? 3000);
const app = paymentsApp({ store: memoryStore(), gateway: new PaymentGateway() });
app.listen(port, () => {
  console.log(`payments API (Express) on http://localhost:${port}, try twice:
  curl -i -X POST localhost:${port}/payments -H 'x-merchant: m1' -H 'idempotency-key: order-1' \\
    -H 'content-type: application/json' -d '{"amount":1299}'`);
});
