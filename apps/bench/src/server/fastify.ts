import type { Server } from 'node:http';
import { idempotency } from '@idem/fastify';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import {
  type BuildContext,
  errorBody,
  type NodeIdempotency,
  type NodeIdempotencyParams,
  type Payment,
  peerErrorStatus,
  WITHOUT_CONTEXT_PATH,
} from './context.js';

export async function fastifyServer(ctx: BuildContext): Promise<Server> {
  const app = Fastify({ logger: false });
  app.get('/stats', async () => ctx.stats());
  app.get('/counts', async () => ctx.stormCounts());

  const key = (request: FastifyRequest) => () =>
    request.headers['idempotency-key'] as string | undefined;
  const { library } = ctx.unit;
  if (library === 'idem' || library === 'idem-cache') {
    // As the README shows: registered before the routes it covers.
    await app.register(idempotency, {
      store: ctx.idemStore!,
      scope: () => 'bench',
      ...ctx.idemOptions,
    });
  }

  if (library === 'node-idempotency') {
    const hooks = nodeIdempotencyHooks(ctx.nodeIdempotency!);
    app.post('/payments', hooks, async (request, reply) => {
      reply.code(201);
      return ctx.charge(request.body as Payment, key(request));
    });
  } else if (library === 'powertools') {
    const route = (
      path: string,
      idempotentCharge: NonNullable<BuildContext['powertools']>['withContext'],
    ) =>
      app.post(path, async (request, reply) => {
        const idempotencyKey = request.headers['idempotency-key'];
        if (typeof idempotencyKey !== 'string') {
          return reply.code(400).send({ error: 'Idempotency-Key required' });
        }
        try {
          const receipt = await idempotentCharge({
            key: idempotencyKey,
            body: request.body as Payment,
          });
          reply.code(201);
          return receipt;
        } catch (error) {
          return reply.code(peerErrorStatus(error)).send(errorBody(error));
        }
      });
    route('/payments', ctx.powertools!.withContext);
    route(WITHOUT_CONTEXT_PATH, ctx.powertools!.withoutContext);
  } else {
    app.post('/payments', async (request, reply) => {
      reply.code(201);
      return ctx.charge(request.body as Payment, key(request));
    });
  }

  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server;
}

/**
 * @node-idempotency/core wired to Fastify as its README describes (its
 * `@node-idempotency/fastify` is not on the registry): onRequest in a
 * preHandler hook (replaying what it returns), onResponse in an onSend hook
 * with the serialized payload, before the response goes out.
 */
function nodeIdempotencyHooks(idem: NodeIdempotency) {
  const pending = new WeakMap<FastifyRequest, NodeIdempotencyParams>();
  return {
    async preHandler(request: FastifyRequest, reply: FastifyReply) {
      const params: NodeIdempotencyParams = {
        headers: request.headers,
        path: request.url,
        method: request.method,
        body: request.body as Record<string, unknown>,
      };
      let cached: Awaited<ReturnType<NodeIdempotency['onRequest']>>;
      try {
        cached = await idem.onRequest(params);
      } catch (error) {
        return reply.code(peerErrorStatus(error)).send(errorBody(error));
      }
      if (cached) {
        const { status, contentType } = cached.additional as {
          status: number;
          contentType: string;
        };
        return reply.code(status).header('content-type', contentType).send(cached.body);
      }
      pending.set(request, params);
    },
    async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
      const params = pending.get(request);
      if (params) {
        pending.delete(request);
        await idem.onResponse(params, {
          body: payload,
          additional: { status: reply.statusCode, contentType: reply.getHeader('content-type') },
        });
      }
      return payload;
    },
  };
}
