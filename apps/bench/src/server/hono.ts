import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { idempotency } from '@idem/hono';
import { type Context, Hono, type Next } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  type BuildContext,
  errorBody,
  type NodeIdempotency,
  type NodeIdempotencyParams,
  type Payment,
  peerErrorStatus,
  WITHOUT_CONTEXT_PATH,
} from './context.js';

export async function honoServer(ctx: BuildContext): Promise<Server> {
  const app = new Hono();
  app.get('/stats', (c) => c.json(ctx.stats()));
  app.get('/counts', (c) => c.json(ctx.stormCounts()));

  const { library } = ctx.unit;
  if (library === 'idem' || library === 'idem-cache') {
    // As the README shows, with the scope an app derives from its authentication.
    app.use(
      '/payments',
      idempotency({ store: ctx.idemStore!, scope: () => 'bench', ...ctx.idemOptions }),
    );
  } else if (library === 'node-idempotency') {
    app.use('/payments', nodeIdempotencyMiddleware(ctx.nodeIdempotency!));
  }

  if (library === 'powertools') {
    const route = (
      path: string,
      idempotentCharge: NonNullable<BuildContext['powertools']>['withContext'],
    ) =>
      app.post(path, async (c) => {
        const key = c.req.header('idempotency-key');
        if (!key) return c.json({ error: 'Idempotency-Key required' }, 400);
        const body = await c.req.json<Payment>();
        try {
          return c.json(await idempotentCharge({ key, body }), 201);
        } catch (error) {
          return c.json(errorBody(error), peerErrorStatus(error) as ContentfulStatusCode);
        }
      });
    route('/payments', ctx.powertools!.withContext);
    route(WITHOUT_CONTEXT_PATH, ctx.powertools!.withoutContext);
  } else {
    app.post('/payments', async (c) =>
      c.json(
        await ctx.charge(await c.req.json<Payment>(), () => c.req.header('idempotency-key')),
        201,
      ),
    );
  }

  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return server;
}

/**
 * @node-idempotency/core wired to Hono the way its README describes for any
 * framework: onRequest before the handler (replaying what it returns), the
 * response body read once after it, onResponse before the response goes out.
 */
function nodeIdempotencyMiddleware(idem: NodeIdempotency) {
  return async (c: Context, next: Next) => {
    if (c.req.method !== 'POST') return next();
    const params: NodeIdempotencyParams = {
      headers: c.req.header(),
      path: c.req.path,
      method: c.req.method,
      body: await c.req.json(),
    };
    let cached: Awaited<ReturnType<NodeIdempotency['onRequest']>>;
    try {
      cached = await idem.onRequest(params);
    } catch (error) {
      return c.json(errorBody(error), peerErrorStatus(error) as ContentfulStatusCode);
    }
    if (cached) {
      const { status, contentType } = cached.additional as { status: number; contentType: string };
      return c.body(cached.body as string, status as ContentfulStatusCode, {
        'content-type': contentType,
      });
    }
    await next();
    const res = c.res;
    const text = await res.text();
    await idem.onResponse(params, {
      body: text,
      additional: { status: res.status, contentType: res.headers.get('content-type') },
    });
    c.res = new Response(text, res);
  };
}
