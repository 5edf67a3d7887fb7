import type { ExecutionContext } from '@idem/core';
import {
  captureNodeResponse,
  createHttpIdempotency,
  type HttpIdempotencyOptions,
  type HttpResponse,
  type NodeCapture,
  nodeHttpRequest,
  sendNodeResponse,
} from '@idem/core/http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BodyTee } from './body-tee.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The claim the handler runs under, set by `@idem/fastify` when it runs
     * the handler (`null` when idem passed the request through). Hand it to a
     * transactional store to commit the handler's writes with the record.
     */
    idempotency: ExecutionContext | null;
  }
}

/**
 * Options of the Fastify plugin: every policy of `@idem/core/http`, with
 * `scope` receiving the Fastify request.
 *
 * @example
 * ```ts
 * await app.register(idempotency, { store: memoryStore(), scope: (request) => request.user.accountId });
 * ```
 */
export type FastifyIdempotencyOptions = HttpIdempotencyOptions<FastifyRequest>;

interface RequestState {
  tee?: BodyTee;
  capture?: NodeCapture;
}

const plugin: FastifyPluginAsync<FastifyIdempotencyOptions> = async (fastify, options) => {
  const http = createHttpIdempotency<FastifyRequest>(options);
  const states = new WeakMap<FastifyRequest, RequestState>();
  const state = (request: FastifyRequest) => {
    const found = states.get(request) ?? {};
    states.set(request, found);
    return found;
  };

  fastify.decorateRequest('idempotency', null);

  // The fingerprint needs the body as sent, whichever content-type parser
  // (Fastify's own or the app's) turns it into request.body: keep a copy of
  // the bytes on their way to the parser.
  fastify.addHook('preParsing', async (request, _reply, payload) => {
    const tee = new BodyTee(payload);
    state(request).tee = tee;
    return tee;
  });

  // preHandler: after authentication hooks (for scope) and body parsing (a
  // request the parser or schema rejects stores nothing), before the handler.
  fastify.addHook('preHandler', async (request, reply) => {
    const tee = states.get(request)?.tee;
    const body = async () => (tee ? tee.bytes() : new Uint8Array(0));
    const decision = await http.handle(nodeHttpRequest(request.raw, request.url, body), request);
    // The copy was only for the fingerprint; a large upload need not be held twice.
    tee?.forget();
    if (decision.action === 'pass') return;
    if (decision.action === 'respond') {
      if (decision.replayed) replay(reply, decision.response);
      else problem(reply, decision.response);
      return reply;
    }
    request.idempotency = decision.context;
    state(request).capture = captureNodeResponse(reply.raw, decision, http.maxResponseBytes);
  });

  // A thrown or rejected handler releases the key, whatever status the error
  // handler then answers with (as Hono's adapter does with c.error).
  fastify.addHook('onError', async (request) => {
    states.get(request)?.capture?.failed();
  });
};

/**
 * Replays go out byte for byte on the raw response: the stored response was
 * already shaped by Fastify's serializers and onSend hooks, which must not run
 * on it twice. Headers set by earlier hooks (CORS, say) stay unless stored.
 */
function replay(reply: FastifyReply, response: HttpResponse): void {
  reply.hijack();
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) reply.raw.setHeader(name, value);
  }
  sendNodeResponse(reply.raw, response);
}

/** Problems are new answers: they go through Fastify's reply like any other. */
function problem(reply: FastifyReply, response: HttpResponse): void {
  reply.code(response.status);
  for (const [name, value] of response.headers) reply.header(name, value);
  const { body } = response;
  reply.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

/**
 * Fastify 5 plugin that makes POST and PATCH (by default) safe to retry: the
 * first request with an `Idempotency-Key` runs the handler, every retry gets
 * the stored response with `Idempotent-Replayed: true`. Wrapped with
 * fastify-plugin, so it covers every route registered after it in the
 * context it is registered in. The behaviour is `@idem/core/http`'s,
 * identical in every idem adapter.
 *
 * @example
 * ```ts
 * await app.register(idempotency, { store: memoryStore(), scope: (request) => request.user.id });
 * ```
 */
export const idempotency: FastifyPluginAsync<FastifyIdempotencyOptions> = fp(plugin, {
  fastify: '5.x',
  name: '@idem/fastify',
});

// Fastify plugins are commonly imported as defaults too: `import idempotency from '@idem/fastify'`.
export default idempotency;
export type { ExecutionContext, Store } from '@idem/core';
