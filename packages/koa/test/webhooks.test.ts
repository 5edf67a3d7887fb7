import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type Accepted, describeWebhooks, reachableStores } from '@idem/test-stores';
import Router from '@koa/router';
import Koa from 'koa';
import { afterAll } from 'vitest';
import { idempotency, webhooks } from '../src/index.js';

// Memory, and Redis when it answers (CI=true: it must).
const stores = await reachableStores({ label: 'koa-webhooks', only: ['memory', 'redis'] });
afterAll(() => stores.close());

type State = { delivery: Accepted };

describeWebhooks('koa', {
  webhooks,
  stores,
  async start({ store, routes, receive }) {
    const app = new Koa<State>();
    const router = new Router<State>();
    const idem = idempotency<State>({ store });
    for (const route of routes) {
      router.post(
        route.path,
        // The raw bytes for the signature, kept on ctx.request.rawBody: idem fingerprints the same bytes.
        async (ctx, next) => {
          const chunks: Buffer[] = [];
          for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
          const raw = Buffer.concat(chunks);
          Object.assign(ctx.request, { rawBody: raw });
          const verdict = await route.verify(raw, (name) => ctx.get(name) || undefined);
          if (!verdict.ok) {
            ctx.status = verdict.status;
            ctx.body = { error: verdict.error };
            return;
          }
          ctx.state.delivery = verdict;
          await next();
        },
        idem.route(route.options((ctx) => ctx.state.delivery)),
        async (ctx) => {
          const raw = (ctx.request as unknown as { rawBody: Buffer }).rawBody;
          const answer = await receive(
            route,
            ctx.state.delivery,
            raw.toString('utf8'),
            (name) => ctx.get(name) || undefined,
          );
          ctx.status = answer.status;
          ctx.body = answer.body;
        },
      );
    }
    app.use(router.routes());
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
