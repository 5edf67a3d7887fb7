import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describeHungStores } from '@idem/test-stores';
import express from 'express';
import { idempotency } from '../src/index.js';

describeHungStores('express', async (options) => {
  let runs = 0;
  const app = express();
  app.use(idempotency({ ...options, scope: () => 'tenant' }));
  app.post('/pay', (_req, res) => void res.status(201).json({ charged: ++runs }));
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
