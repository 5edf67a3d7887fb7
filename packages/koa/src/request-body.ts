import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { encodeFormFields, isFormContentType } from '@idem/core/http';

/** What a body parser may have left on Koa's request. */
export interface ParsedRequest {
  /** The raw body, as `@koa/bodyparser` keeps it (a string), or bytes. */
  readonly rawBody?: unknown;
  /** What a body parser made of the body. */
  readonly body?: unknown;
}

/** The parts of a Koa context idem reads the body from. */
export interface BodySource {
  readonly req: IncomingMessage;
  /** Koa's request, where body parsers leave what they read (see {@link ParsedRequest}). */
  readonly request: object;
  get(field: string): string;
}

/**
 * Why the request body could not be read for the fingerprint:
 * `BODY_CONSUMED`, something read it before idem and kept nothing (500, a
 * setup mistake); `BODY_UNREADABLE`, the client aborted or the stream failed (400).
 */
export type RequestBodyErrorCode = 'BODY_CONSUMED' | 'BODY_UNREADABLE';

/**
 * Thrown when the request body cannot be read for the fingerprint; nothing
 * was claimed or stored.
 */
export class RequestBodyError extends Error {
  /** Stable code to branch on instead of the message. */
  readonly code: RequestBodyErrorCode;
  /** The status Koa's error handling answers with. */
  readonly status: number;
  /** Whether Koa shows the message to the client (and leaves it out of its error log): a client's fault only. */
  readonly expose: boolean;

  constructor(code: RequestBodyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RequestBodyError';
    this.code = code;
    this.status = code === 'BODY_CONSUMED' ? 500 : 400;
    this.expose = code === 'BODY_UNREADABLE';
  }
}

/**
 * The request body as the client sent it, whatever parsed it before idem:
 *
 * 1. Raw bytes a parser kept on `ctx.request.rawBody` (`@koa/bodyparser`
 *    keeps the text of every body it parses): used as they are.
 * 2. Nothing read the stream yet: idem reads it, then makes `ctx.req`
 *    readable again from the start, so parsers and handlers mounted after
 *    idem read the same bytes.
 * 3. A parser read it first and kept only its result on
 *    `ctx.request.body`: the bytes are rebuilt from it. A `Buffer` is exact;
 *    a string is UTF-8 encoded; form fields are encoded in the canonical
 *    form idem fingerprints every form in; anything else is
 *    JSON-serialized, and idem fingerprints JSON canonically, so key order
 *    and whitespace never mattered anyway.
 */
export async function requestBody(ctx: BodySource, limit: number): Promise<Uint8Array | undefined> {
  const { req } = ctx;
  const request: ParsedRequest = ctx.request;
  const raw = request.rawBody;
  if (raw instanceof Uint8Array) return within(raw, limit);
  if (typeof raw === 'string') return within(Buffer.from(raw), limit);
  if (!req.readableDidRead && !req.readableEnded) {
    const bytes = await readAll(req, limit);
    if (bytes !== undefined) replay(req, bytes);
    return bytes;
  }
  if (request.body !== undefined) {
    return within(fromParsed(request.body, ctx.get('content-type')), limit);
  }
  throw new RequestBodyError(
    'BODY_CONSUMED',
    'idem: the request body was read before idempotency() ran and nothing kept it. Mount idempotency() before the middleware that reads the body, or use a body parser that keeps the raw body on ctx.request.rawBody (@koa/bodyparser does).',
  );
}

/**
 * A body a parser already read is held whatever its size (its own `limit`
 * applied); idem still answers 413 past its own, like every adapter.
 */
function within(bytes: Uint8Array, limit: number): Uint8Array | undefined {
  return bytes.byteLength > limit ? undefined : bytes;
}

function fromParsed(body: unknown, contentType: string): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body);
  if (isFormContentType(contentType) && typeof body === 'object' && body !== null) {
    return encodeFormFields(formFields(body));
  }
  return Buffer.from(JSON.stringify(body) ?? '');
}

/**
 * The fields a urlencoded parser decoded: repeated names for arrays, and
 * bracketed names, `a[b][c]`, for the nested objects `qs` makes, as a client
 * writes them.
 */
function formFields(value: unknown, prefix = ''): Array<[string, string]> {
  if (Array.isArray(value)) return value.flatMap((item) => formFields(item, prefix));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([name, item]) =>
      formFields(item, prefix === '' ? name : `${prefix}[${name}]`),
    );
  }
  return [[prefix, String(value)]];
}

/** The whole body, or `undefined` as soon as it outgrows `limit` (the rest is dropped unread). */
function readAll(req: IncomingMessage, limit: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.byteLength;
      if (size <= limit) {
        chunks.push(bytes);
        return;
      }
      stop();
      // The rest is read and dropped, never held, so the client finishes
      // sending and reads the 413 (a stalled upload would hang it).
      req.resume();
      resolve(undefined);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(
        new RequestBodyError('BODY_UNREADABLE', 'idem: the request body could not be read.', {
          cause: error,
        }),
      );
    };
    const onAborted = () => {
      stop();
      reject(new RequestBodyError('BODY_UNREADABLE', 'idem: the client aborted the request body.'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * Make a fully read request readable again, yielding `bytes` from the start.
 *
 * Node streams cannot be rewound, and parsers mounted after idem
 * (`@koa/bodyparser`, `@koa/multer`, a handler's `for await (const chunk of
 * ctx.req)`) read `ctx.req` itself, so it must become a fresh stream: it gets
 * a new readable state whose source is the buffered body. Listeners, headers
 * and socket stay as they are.
 */
function replay(req: IncomingMessage, bytes: Uint8Array): void {
  Readable.call(req as unknown as Readable, {
    highWaterMark: req.readableHighWaterMark,
    read(this: Readable) {
      if (bytes.byteLength > 0) this.push(bytes);
      this.push(null);
    },
  });
}
