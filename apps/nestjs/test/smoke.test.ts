import type { AddressInfo } from 'node:net';
import { memoryStore } from '@idem/store-memory';
import { expect, it } from 'vitest';
import { PaymentGateway, paymentsApp } from '../src/app.ts';

it.each(['express', 'fastify'] as const)(
  'on %s: charges once for two requests with one key, and replays the first answer',
  async (platform) => {
    const gateway = new PaymentGateway();
    const app = await paymentsApp({ store: memoryStore(), gateway, platform });
    await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/payments`;
    const pay = (body: string, merchant = 'm1') =>
      fetch(url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-merchant': merchant,
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
      // Another merchant's key space: the same key is a new payment.
      expect((await pay('{"amount":1299}', 'm2')).headers.get('idempotent-replayed')).toBeNull();
      expect(gateway.charges).toBe(2);
    } finally {
      await app.close();
    }
  },
);
