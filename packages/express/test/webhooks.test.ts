import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type Accepted, describeWebhooks, reachableStores } from '@idem/test-stores';
import express, { type Request } from 'express';
import { afterAll } from 'vitest';
import { idempotency, webhooks } from '../src/index.js';

// Memory, and Redis when it answers (CI=true: it must).
const stores = await reachableStores({ label: 'express-webhooks', only: ['memory', 'redis'] });
afterAll(() => stores.close());

describeWebhooks('express', {
  webhooks,
  stores,
  async start({ store, routes, receive }) {
    const app = express();
    const idem = idempotency({ store });
    const deliveries = new WeakMap<Request, Accepted>();
    const accepted = (req: Request) => deliveries.get(req)!;
    for (const route of routes) {
      app.post(
        route.path,
        // The raw bytes for the signature; idem then fingerprints the same Buffer.
        express.raw({ type: 'application/json' }),
        (req, res, next) => {
          const body: unknown = req.body;
          const raw = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
          route
            .verify(raw, (name) => req.get(name))
            .then((verdict) => {
              if (!verdict.ok)
                return void res.status(verdict.status).json({ error: verdict.error });
              deliveries.set(req, verdict);
              next();
            }, next);
        },
        idem.route(route.options(accepted)),
        (req, res, next) => {
          const body = (req.body as Buffer).toString('utf8');
          receive(route, accepted(req), body, (name) => req.get(name)).then(
            (answer) => void res.status(answer.status).json(answer.body),
            next,
          );
        },
      );
    }
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        server.closeAllConnections();
        server.close();
      },
    };
  },
});
