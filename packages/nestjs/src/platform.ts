import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Claim, ConfigurationError } from '@idem/core';
import type { HttpRequest, HttpResponse } from '@idem/core/http';
import { nodeHttpRequest, nodeRequestBody, sendNodeResponse } from '@idem/core/node';

/**
 * The request as Nest hands it to interceptors: Express's request (a Node
 * `IncomingMessage`) or a `FastifyRequest` (the Node request as `raw`).
 * Both platforms leave the parsed body on `body`, and with Nest's
 * `rawBody: true` the bytes it parsed on `rawBody`.
 */
export interface NestRequestLike {
  readonly raw?: IncomingMessage;
  readonly originalUrl?: string;
  readonly url?: string;
  readonly body?: unknown;
  readonly rawBody?: unknown;
  /** Express's matched route. */
  readonly route?: { readonly path?: unknown };
  /** Fastify's matched route. */
  readonly routeOptions?: { readonly url?: string };
  idempotency?: Claim | undefined;
}

/** The response as Nest hands it to interceptors: Express's (a Node `ServerResponse`) or a `FastifyReply`. */
export interface NestResponseLike {
  readonly raw?: ServerResponse;
  hijack?(): unknown;
  getHeaders?(): Record<string, unknown>;
}

/** The Node request under a Nest request, on either platform. */
export const nodeRequest = (req: NestRequestLike): IncomingMessage =>
  req.raw ?? (req as unknown as IncomingMessage);

/** The Node response under a Nest response, on either platform. */
export const nodeResponse = (res: NestResponseLike): ServerResponse =>
  res.raw ?? (res as unknown as ServerResponse);

/** Describe a Nest request for core, on either platform. */
export function describeRequest(req: NestRequestLike): HttpRequest {
  const raw = nodeRequest(req);
  return nodeHttpRequest(
    raw,
    req.originalUrl ?? raw.url ?? '/',
    (limit) => requestBody(req, raw, limit),
    () => {
      const path = req.routeOptions?.url ?? req.route?.path;
      return typeof path === 'string' ? path : undefined;
    },
  );
}

/**
 * The body as the client sent it. Nest's parsers run before any
 * interceptor, so idem takes the bytes they kept (`rawBody: true`), the
 * stream when no parser read it (idem reads it and hands it back unread),
 * or a body parsed as text or bytes, which are the bytes. A body parsed
 * into an object, with no bytes kept, cannot be told apart from another
 * body that parses the same: idem refuses to guess.
 */
function requestBody(
  req: NestRequestLike,
  raw: IncomingMessage,
  limit: number,
): Promise<Uint8Array | undefined> {
  const { rawBody, body } = req;
  if (rawBody instanceof Uint8Array || typeof rawBody === 'string') {
    return nodeRequestBody(raw, limit, { rawBody });
  }
  if (!raw.readableDidRead && !raw.readableEnded) return nodeRequestBody(raw, limit, {});
  if (body instanceof Uint8Array || typeof body === 'string') {
    return nodeRequestBody(raw, limit, { rawBody: body });
  }
  if (body === undefined) return nodeRequestBody(raw, limit, {});
  throw new ConfigurationError(
    'idem: Nest parsed this request body and kept no raw bytes, which idem needs for the fingerprint. Create the application with them kept: NestFactory.create(AppModule, { rawBody: true }) (both platforms); or give the content type a parser that leaves a Buffer or string.',
  );
}

/** Methods a sent response answers with nothing, so that Nest's own reply after idem's changes nothing. */
const quiet = {
  writeHead(this: ServerResponse) {
    return this;
  },
  setHeader(this: ServerResponse) {
    return this;
  },
  appendHeader(this: ServerResponse) {
    return this;
  },
  removeHeader() {},
  flushHeaders() {},
  write(_chunk: unknown, encoding?: unknown, callback?: unknown) {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => done());
    return true;
  },
  end(this: ServerResponse, ...args: unknown[]) {
    const done = args.find((arg) => typeof arg === 'function');
    if (typeof done === 'function') queueMicrotask(() => done());
    return this;
  },
};

/**
 * Send a replay or a problem in place of the handler, byte for byte on the
 * Node response (Fastify's reply is hijacked first: its serializers and
 * onSend hooks shaped the stored response already). Nest still replies
 * after an interceptor, with the route's status and whatever value the
 * interceptors around idem's emit: the response is made deaf to it, rather
 * than Express throwing on headers already sent or Fastify logging a reply
 * sent twice.
 */
export function sendInstead(res: NestResponseLike, response: HttpResponse): void {
  const raw = nodeResponse(res);
  if (res.raw && res.hijack && res.getHeaders) {
    res.hijack();
    // Headers Fastify hooks set before idem (CORS, say) stay, as on Express.
    for (const [name, value] of Object.entries(res.getHeaders())) {
      if (value !== undefined) raw.setHeader(name, value as string | string[]);
    }
    Object.assign(res, { send: sent });
  }
  sendNodeResponse(raw, response);
  Object.assign(raw, quiet);
  // Nest's reply after this may set a status too (its adapters' reply()
  // takes one): logs and metrics that read the status once the response
  // finished must report the one the client got.
  const { status } = response;
  Object.defineProperty(raw, 'statusCode', { configurable: true, get: () => status, set() {} });
}

function sent<T>(this: T): T {
  return this;
}
