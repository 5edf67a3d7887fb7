import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { memoryStore } from '@idem/store-memory';
import { expect, it } from 'vitest';
import { PaymentGateway, paymentsApp } from '../src/app.ts';

it('charges once for two requests with one key, and replays the first answer', async () => {
  const gateway = new PaymentGateway();
  const server = paymentsApp({ store: memoryStore(), gateway }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/payments`;
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
    server.closeAllConnections();
    server.close();
  }
});
