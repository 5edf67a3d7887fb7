import { memoryStore } from '@idem/store-memory';
import { expect, it } from 'vitest';
import { PaymentGateway, paymentsApp } from '../src/app.ts';

it('charges once for two requests with one key, and replays the first answer', async () => {
  const gateway = new PaymentGateway();
  const app = await paymentsApp({ store: memoryStore(), gateway });
  const url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/payments`;
  const pay = (body: string) =>
    fetch(url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-merchant': 'm1',
        'idempotency-key': 'order-1',
      },
    });
  try {
    const first = await pay('{"amount":1299}');
    const retry = await pay('{ "amount": 1299 }');
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(await first.json());
    expect(gateway.charges).toBe(1);
  } finally {
    await app.close();
  }
});
