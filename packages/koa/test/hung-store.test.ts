import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describeHungStores } from '@idem/test-stores';
import Koa from 'koa';
import { idempotency } from '../src/index.js';

describeHungStores('koa', async (options) => {
  let runs = 0;
  const app = new Koa();
  app.use(idempotency({ ...options, scope: () => 'tenant' }));
  app.use((ctx) => {
    if (ctx.method !== 'POST' || ctx.path !== '/pay') return;
    ctx.status = 201;
    ctx.body = { charged: ++runs };
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    runs: () => runs,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
});
