import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { describeHungStores } from '@idem/test-stores';
import { Hono } from 'hono';
import { idempotency } from '../src/index.js';

describeHungStores('hono', async (options) => {
  let runs = 0;
  const app = new Hono();
  app.use(idempotency({ ...options, scope: () => 'tenant' }));
  app.post('/pay', (c) => c.json({ charged: ++runs }, 201));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    runs: () => runs,
    async close() {
      if ('closeAllConnections' in server) server.closeAllConnections();
      server.close();
    },
  };
});
