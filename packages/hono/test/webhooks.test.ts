import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { type Accepted, describeWebhooks, reachableStores } from '@idem/test-stores';
import { Hono } from 'hono';
import { afterAll } from 'vitest';
import { type IdempotencyVariables, idempotency, webhooks } from '../src/index.js';

// Memory, and Redis when it answers (CI=true: it must).
const stores = await reachableStores({ label: 'hono-webhooks', only: ['memory', 'redis'] });
afterAll(() => stores.close());

type Env = { Variables: IdempotencyVariables & { delivery: Accepted } };

describeWebhooks('hono', {
  webhooks,
  stores,
  async start({ store, routes, receive }) {
    const app = new Hono<Env>();
    const idem = idempotency<Env>({ store });
    for (const route of routes) {
      app.post(
        route.path,
        // The signature first, on the raw body: Hono caches the text, and idem reads the same bytes.
        async (c, next) => {
          const verdict = await route.verify(await c.req.text(), (name) => c.req.header(name));
          if (!verdict.ok) return c.json({ error: verdict.error }, verdict.status);
          c.set('delivery', verdict);
          await next();
        },
        idem.route(route.options((c) => c.get('delivery'))),
        async (c) => {
          const answer = await receive(route, c.get('delivery'), await c.req.text(), (name) =>
            c.req.header(name),
          );
          return c.json(answer.body, answer.status);
        },
      );
    }
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close();
      },
    };
  },
});
