import { Readable, Transform } from 'node:stream';
import { type Claim, ConfigurationError } from '@idem/core';
import {
  createHttpIdempotency,
  type HttpBodyDecision,
  type HttpDecision,
  type HttpExecution,
  type HttpIdempotencyOptions,
  type HttpResponse,
  type HttpRoute,
  type RouteOptions,
} from '@idem/core/http';
import { nodeHeaderLines, sendNodeResponse } from '@idem/core/node';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { BodyCopy } from './body-copy.js';
import { type Captured, capturePayload, type Payload } from './capture.js';
import { FastifyHttpRequest } from './request.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The claim the handler runs under, set by `@idem/fastify` when it runs
     * the handler (`undefined` when idem passed the request through). Hand it
     * to a transactional store to commit the handler's writes with the record.
     */
    idempotency: Claim | undefined;
  }
  interface FastifyContextConfig {
    /**
     * This route's idempotency options, over the plugin's (`@idem/fastify`),
     * or `false` to leave the route out.
     */
    idempotency?: RouteOptions<FastifyRequest> | false;
  }
}

/** Route-level options (`config: { idempotency }`): every route option of `@idem/core/http`. */
export type FastifyRouteOptions = RouteOptions<FastifyRequest>;

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

/** A claimed request whose response is still to be stored. */
interface Pending {
  readonly execution: HttpExecution;
  failed: boolean;
}

/**
 * What idem knows of one request, from preParsing to onResponse. One object
 * on the request (a decorated property, so every request has the same shape)
 * rather than a WeakMap per hook: WeakMap entries cost a hash lookup each and
 * ephemeron work in every garbage collection, on every request.
 */
interface State {
  /** The route's resolved options. */
  readonly route: HttpRoute<FastifyRequest>;
  /** The request as core reads it, built once for both hooks. */
  readonly described: FastifyHttpRequest;
  /** What core decided in preParsing, for preHandler to carry out: a key problem to send, or the body read. */
  decision: Extract<HttpBodyDecision, { kind: 'respond' | 'read' }> | undefined;
  /** The copy of the body for the fingerprint, when core reads it. */
  copy: BodyCopy | undefined;
  /** The claim whose response onSend stores, from preHandler until it is stored or released. */
  pending: Pending | undefined;
  /** A chunked body outgrew maxRequestBytes: onSend answers core's 413 instead. */
  tooLarge: boolean;
}

/** The request property holding its {@link State} (`null` until preParsing covers it). */
const STATE = Symbol('idem.fastify.state');

const stateOf = (request: FastifyRequest): State | null =>
  (request as unknown as { [STATE]: State | null })[STATE];

type OnSend = onSendHookHandler<unknown>;

const EMPTY = new Uint8Array(0);
const EMPTY_BODY = (): Uint8Array => EMPTY;

/**
 * On a route's config: its resolved idem options (or `false`: left out), set
 * when the route is added after the plugin, whose onSend hooks then end with
 * idem's (see `onRoute` below).
 */
const ROUTE = Symbol.for('idem.fastify.route');

type RouteConfig = {
  readonly idempotency?: FastifyRouteOptions | false;
  [ROUTE]?: HttpRoute<FastifyRequest> | false;
};

/**
 * Thrown into a chunked request body that outgrows `maxRequestBytes`, with
 * the status of core's problem, which onSend then puts in its place.
 */
class BodyTooLarge extends Error {
  readonly code = 'IDEM_REQUEST_TOO_LARGE';
  constructor(readonly statusCode: number) {
    super('idem: the request body is over maxRequestBytes.');
  }
}

const plugin: FastifyPluginAsync<FastifyIdempotencyOptions> = async (fastify, options) => {
  if (fastify.hasRequestDecorator('idempotency')) {
    // Registered in a context that already has it: every route would pass two claims.
    throw new ConfigurationError(
      'idem: @idem/fastify is already registered in this context or a parent of it. Register it once, and give the routes that need other options config: { idempotency: {...} } (or false), or register it in sibling contexts instead.',
    );
  }
  const http = createHttpIdempotency<FastifyRequest>(options);
  const resolve = (config: RouteConfig | undefined, where: string) => {
    const own = config?.idempotency;
    if (own === false) return false;
    return own ? http.route(own, where) : http.base;
  };
  // Routes added before the plugin have no resolved options on their config:
  // resolve them once, on their first request.
  const late = new WeakMap<object, HttpRoute<FastifyRequest> | false>();
  const routeOf = (request: FastifyRequest): HttpRoute<FastifyRequest> | false => {
    const config = request.routeOptions.config as RouteConfig;
    const resolved = config[ROUTE];
    if (resolved !== undefined) return resolved;
    let found = late.get(config);
    if (found === undefined) {
      found = resolve(config, `${request.method} ${request.routeOptions.url}`);
      late.set(config, found);
    }
    return found;
  };

  fastify.decorateRequest('idempotency', undefined);
  fastify.decorateRequest(STATE, null);

  // What happens to the body is core's decision, asked before the
  // content-type parser reads it (http.beforeBody: method, skip, key, key
  // format, declared length, in core's order); this hook carries it out.
  // The fingerprint needs the body as sent, whichever content-type parser
  // (Fastify's own or the app's) turns it into request.body: for a body
  // core reads, keep a copy of the bytes on their way to the parser.
  // Hooks take Fastify's callback form: a hook that has nothing to wait for
  // (most requests, at most steps) then costs no promise and no microtask.
  fastify.addHook('preParsing', (request, reply, payload, done) => {
    const route = routeOf(request);
    if (!route) return done(null, payload);
    const described = new FastifyHttpRequest(request);
    const carryOut = (decision: HttpBodyDecision) => {
      if (decision.kind === 'pass') return done(null, payload);
      // A reply sent here ends the hook chain: Fastify reads no body.
      if (decision.kind === 'refuse') return problem(reply, decision.response);
      const state: State = {
        route,
        described,
        decision,
        copy: undefined,
        pending: undefined,
        tooLarge: false,
      };
      (request as unknown as { [STATE]: State })[STATE] = state;
      // A key problem is sent from preHandler, after the app's own checks
      // (authentication, signatures), as every adapter answers it; the body
      // is not idem's to read or limit.
      if (decision.kind === 'respond') return done(null, payload);
      if (request.headers['content-length'] !== undefined) {
        // Its declared length is within the limit (core refused a longer one).
        state.copy = new BodyCopy(payload);
        return done(null, payload);
      }
      // Unknown length: stop reading as soon as it outgrows the limit, so no
      // parser buffers more. Only such bodies pay for a second stream.
      const capped = capStream(payload, decision.limit, () => {
        state.tooLarge = true;
        return http.tooLarge(route).status;
      });
      state.copy = new BodyCopy(capped);
      done(null, capped);
    };
    let decision: HttpBodyDecision | Promise<HttpBodyDecision>;
    try {
      decision = http.beforeBody(described, request, route);
    } catch (error) {
      return done(error as Error);
    }
    if (decision instanceof Promise) decision.then(carryOut, done);
    else carryOut(decision);
  });

  // preHandler: after authentication hooks (for scope) and body parsing (a
  // request the parser or schema rejects stores nothing), before the handler.
  fastify.addHook('preHandler', (request, reply, done) => {
    const state = stateOf(request);
    // None when preParsing passed the request through, or refused its body.
    const before = state?.decision;
    if (!state || !before) return done();
    state.decision = undefined;
    if (before.kind === 'respond') return problem(reply, before.response);
    const { copy, described } = state;
    described.bytes = copy ? () => copy.bytes(request) : EMPTY_BODY;
    const decided = (decision: HttpDecision) => {
      // The copy was only for the fingerprint; a large upload need not be held twice.
      copy?.forget();
      state.copy = undefined;
      if (decision.kind === 'pass') return done();
      // A reply sent (or hijacked) here ends the hook chain: no done().
      if (decision.kind === 'respond') {
        if (decision.replayed) replay(reply, decision.response);
        else problem(reply, decision.response);
        return;
      }
      request.idempotency = decision.claim;
      state.pending = { execution: decision, failed: false };
      done();
    };
    http.handle(described, request, undefined, state.route, before).then(decided, done);
  });

  // A thrown or rejected handler releases the key, whatever status the error
  // handler then answers with (as Hono's adapter does with c.error).
  fastify.addHook('onError', (request, _reply, _error, done) => {
    const claim = stateOf(request)?.pending;
    if (claim) claim.failed = true;
    done();
  });

  // The response is stored as the client gets it: after every other onSend
  // hook (a route's own hooks run after the app's, and this one is appended
  // last to each route), before anything is written, so a store that rolled
  // the handler's writes back can still answer 503 instead.
  const store: OnSend = (request, reply, payload, done) => {
    const state = stateOf(request);
    const claim = state?.pending;
    if (!claim) return done(null, payload);
    state!.pending = undefined;
    if (claim.failed) {
      claim.execution.release().then(() => done(null, payload), done);
      return;
    }
    const header = (name: string) => {
      const value = reply.getHeader(name);
      return value === undefined ? null : String(value);
    };
    const captured = capturePayload(
      payload as Payload,
      http.maxResponseBytes,
      header('content-type'),
      header('content-length'),
    );
    const completeWith = (captured: Captured) => {
      claim.execution
        .complete({
          status: reply.statusCode,
          headers: nodeHeaderLines(reply.getHeaders()),
          body: captured.bytes,
        })
        .then((instead) => {
          if (!instead) return done(null, captured.payload);
          if (captured.payload instanceof Readable) captured.payload.destroy();
          for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
          done(null, problemPayload(reply, instead));
        }, done);
    };
    if (!(captured instanceof Promise)) return completeWith(captured);
    captured.then(completeWith, (error: Error) => {
      // The handler's stream broke: there is no whole response to keep.
      claim.execution.release().then(
        () => done(error),
        () => done(error),
      );
    });
  };
  fastify.addHook('onRoute', (route) => {
    const config = route.config as RouteConfig | undefined;
    const methods = [route.method].flat().join(',');
    const resolved = resolve(config, `${methods} ${route.url}`);
    route.config = { ...config, [ROUTE]: resolved } as typeof route.config;
    if (resolved) route.onSend = [...(route.onSend ? [route.onSend].flat() : []), store];
  });

  // Routes registered before the plugin get the app-level hooks above (they
  // apply to every route of the context, whenever it was added) but not the
  // route-level onSend that onRoute appends: store their answers from an
  // app-level onSend instead, so they are covered whole, never half. The
  // 413 for a chunked body that outgrew the limit is shaped here too.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const state = stateOf(request);
    if (state?.tooLarge) {
      state.tooLarge = false;
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      return done(null, problemPayload(reply, http.tooLarge(routeOf(request) || undefined)));
    }
    if ((request.routeOptions.config as RouteConfig)[ROUTE] !== undefined) {
      return done(null, payload);
    }
    store.call(fastify, request, reply, payload, done);
  });

  // A reply that never went through onSend (hijacked, or written on the raw
  // response) leaves nothing to store: free the key rather than renew it forever.
  fastify.addHook('onResponse', (request, _reply, done) => {
    const state = stateOf(request);
    const claim = state?.pending;
    if (!claim) return done();
    state!.pending = undefined;
    claim.execution.release().then(() => done(), done);
  });
};

/**
 * `payload`, failing as soon as more than `limit` bytes went through, with
 * the status `onOver()` gives (core's 413, built only then).
 */
function capStream(payload: Readable, limit: number, onOver: () => number): Readable {
  let size = 0;
  const capped = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.byteLength;
      if (size <= limit) return callback(null, chunk);
      const status = onOver();
      // The rest is read and dropped, never held, so the client finishes
      // sending and reads the 413 (a stalled upload would hang it).
      payload.unpipe(capped);
      payload.resume();
      callback(new BodyTooLarge(status));
    },
  });
  // Fastify's parsers read these from the payload they are given.
  Object.assign(capped, { receivedEncodedLength: 0 });
  payload.on('error', (error) => capped.destroy(error));
  return payload.pipe(capped);
}

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
  reply.send(problemPayload(reply, response));
}

/** Status and headers of `response` on the reply; its body as a payload. */
function problemPayload(reply: FastifyReply, response: HttpResponse): Buffer {
  reply.code(response.status);
  for (const [name, value] of response.headers) reply.header(name, value);
  const { body } = response;
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
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
export type { Claim, Store } from '@idem/core';
export { isFinalStatus, webhooks } from '@idem/core/http';
