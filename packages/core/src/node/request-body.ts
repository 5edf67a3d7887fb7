import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { encodeFormFields, isFormContentType } from '../http/form.js';

/**
 * What a body parser may have left, on the request (Express) or on the
 * framework's own request object (Koa's `ctx.request`).
 */
export interface ParsedBody {
  /** The raw bytes, when a `verify` hook kept them (see {@link keepRawBody}), or the raw text. */
  readonly rawBody?: unknown;
  /** What a body parser made of the body. */
  readonly body?: unknown;
}

/** Set by body-parser 1.x (Express 4) once it has read the body. */
interface Express4Request extends IncomingMessage {
  _body?: boolean;
}

/**
 * Why the request body could not be read for the fingerprint:
 * `BODY_CONSUMED`, something read it before idem and kept nothing (500, a
 * setup mistake); `BODY_UNREADABLE`, the client aborted or the stream failed (400).
 */
export type RequestBodyErrorCode = 'BODY_CONSUMED' | 'BODY_UNREADABLE';

/**
 * Thrown (Express: passed to `next()`) when the request body cannot be read
 * for the fingerprint; nothing was claimed or stored. `status` is what the
 * framework's error handler answers with.
 */
export class RequestBodyError extends Error {
  /** Stable code to branch on instead of the message. */
  readonly code: RequestBodyErrorCode;
  /** The status the framework's error handler answers with: 500 for a setup mistake, 400 for a failed upload. */
  readonly status: number;
  /**
   * Whether the message may go to the client (Koa's and http-errors'
   * convention): a failed upload is the client's to know, and Koa then does
   * not log it as a server error; a setup mistake stays in the logs.
   */
  readonly expose: boolean;

  constructor(code: RequestBodyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RequestBodyError';
    this.code = code;
    this.status = code === 'BODY_CONSUMED' ? 500 : 400;
    this.expose = code !== 'BODY_CONSUMED';
  }
}

/**
 * A body-parser `verify` hook that keeps the raw bytes on `req.rawBody`, so
 * idem fingerprints exactly what the client sent even when the parser runs
 * first: `app.use(express.json({ verify: keepRawBody }))`.
 */
export function keepRawBody(req: IncomingMessage, _res: unknown, buffer: Uint8Array): void {
  (req as { rawBody?: unknown }).rawBody = buffer;
}

/**
 * The request body as the client sent it, whatever parsed it before idem
 * (`parsed` is where the framework's body parser leaves its work: the
 * request itself for Express, `ctx.request` for Koa):
 *
 * 1. Raw bytes kept on `req.rawBody` (a `verify` hook): used as they are.
 * 2. Nothing read the stream yet: idem reads it, then makes the request
 *    readable again from the start, so parsers and handlers mounted after
 *    idem read the same bytes.
 * 3. A parser read it first: the bytes are rebuilt from `req.body`. A
 *    `Buffer` (`express.raw()`) is exact; a string (`express.text()`) is
 *    UTF-8 encoded; form fields (`express.urlencoded()`) are encoded in the
 *    canonical form idem fingerprints every form in; anything else
 *    (`express.json()`) is JSON-serialized, and idem fingerprints JSON
 *    canonically, so key order and whitespace never mattered anyway.
 */
export async function nodeRequestBody(
  req: IncomingMessage,
  limit: number,
  parsed: ParsedBody = req as ParsedBody,
): Promise<Uint8Array | undefined> {
  const raw = parsed.rawBody;
  if (raw instanceof Uint8Array) return within(raw, limit);
  if (typeof raw === 'string') return within(Buffer.from(raw), limit);
  if (!req.readableDidRead && !req.readableEnded && (req as Express4Request)._body !== true) {
    const bytes = await readAll(req, limit);
    if (bytes !== undefined) replay(req, bytes);
    return bytes;
  }
  if (parsed.body !== undefined)
    return within(fromParsed(parsed.body, req.headers['content-type']), limit);
  throw new RequestBodyError(
    'BODY_CONSUMED',
    'idem: the request body was read before idempotency() ran and nothing kept it. Mount idempotency() before the middleware that reads the body, or keep the raw bytes: express.json({ verify: keepRawBody }) with Express, @koa/bodyparser (it keeps ctx.request.rawBody) with Koa.',
  );
}

/**
 * A body a parser already read is held whatever its size (its own `limit`
 * applied); idem still answers 413 past its own, like every adapter.
 */
function within(bytes: Uint8Array, limit: number): Uint8Array | undefined {
  return bytes.byteLength > limit ? undefined : bytes;
}

function fromParsed(body: unknown, contentType: string | undefined): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body);
  if (isFormContentType(contentType) && typeof body === 'object' && body !== null) {
    return encodeFormFields(formFields(body));
  }
  return Buffer.from(JSON.stringify(body) ?? '');
}

/**
 * The fields a urlencoded parser decoded: flat objects (`extended: false`)
 * give repeated names for arrays, nested objects (`qs`, `extended: true`)
 * give bracketed names, `a[b][c]`, as a client writes them.
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
 * Node streams cannot be rewound, and parsers mounted after idem (body-parser,
 * multer, a handler's `for await (const chunk of req)`) read `req` itself, so
 * `req` must become a fresh stream: it gets a new readable state whose source
 * is the buffered body. Listeners, headers and socket stay as they are.
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
