/**
 * Translation between Node's `http` request/response objects and the
 * framework-neutral layer, shared by the Express and Fastify adapters (both
 * answer through a Node `ServerResponse`). The types are structural, so
 * `@idem/core` needs neither Node's types nor its modules, and stays runnable
 * on edge runtimes that never call these functions.
 *
 * @packageDocumentation
 */
import { concatBytes, utf8 } from '../bytes.js';
import { isNullBodyStatus, streamsThrough } from './body.js';
import type { HttpDecision, HttpRequest, HttpResponse } from './handler.js';

/** A Node header value as `getHeaders()` reports it. */
type NodeHeaderValue = string | number | readonly string[];

/** The parts of Node's `http.IncomingMessage` idem reads. */
export interface NodeRequestLike {
  readonly method?: string | undefined;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Header names and values as received, alternating: the only place two header lines stay two. */
  readonly rawHeaders: readonly string[];
}

/**
 * The parts of Node's `http.ServerResponse` idem uses. Methods are declared
 * with method syntax so a real `ServerResponse` (or a framework's subclass)
 * fits without casts.
 */
export interface NodeResponseLike {
  statusCode: number;
  statusMessage: string;
  readonly headersSent: boolean;
  getHeaders(): Record<string, NodeHeaderValue | undefined>;
  getHeaderNames(): string[];
  setHeader(name: string, value: NodeHeaderValue): unknown;
  removeHeader(name: string): void;
  writeHead(...args: unknown[]): unknown;
  write(...args: unknown[]): boolean;
  end(...args: unknown[]): unknown;
  flushHeaders(): void;
  on(event: 'close', listener: () => void): unknown;
}

/** The `execute` decision of {@link HttpDecision}. */
export type HttpExecution = Extract<HttpDecision, { readonly action: 'execute' }>;

/**
 * Describe a Node request for `HttpIdempotency.handle`.
 *
 * @param url The request target as received, path and query (Express:
 *   `req.originalUrl`, since `req.url` loses the mount path; Fastify: `request.url`).
 * @param body Reads the raw body bytes; called only for requests idem covers.
 */
export function nodeHttpRequest(
  req: NodeRequestLike,
  url: string,
  body: () => Promise<Uint8Array>,
): HttpRequest {
  const q = url.indexOf('?');
  const keyLines: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === 'idempotency-key') {
      keyLines.push(req.rawHeaders[i + 1]!);
    }
  }
  return {
    method: req.method ?? 'GET',
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    header(name) {
      const value = req.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return typeof value === 'string' ? value : value.join(', ');
    },
    keyLines,
    body,
  };
}

/**
 * Send a replay or a problem on a Node response. Headers set earlier on the
 * response (by middleware that ran before idem) stay unless the stored
 * response names them too; `Content-Length` is recomputed by Node.
 */
export function sendNodeResponse(res: NodeResponseLike, response: HttpResponse): void {
  res.statusCode = response.status;
  setHeaders(res, response.headers);
  if (isNullBodyStatus(response.status)) res.end();
  else res.end(response.body);
}

type Callback = (error?: Error | null) => void;
type Method = (...args: unknown[]) => unknown;
const PATCHED = ['writeHead', 'write', 'end', 'flushHeaders'] as const;
const STATE = ['headersSent', 'writableEnded'] as const;

/**
 * Capture what the handler sends on a Node response and hand it to the
 * execution, writing nothing to the client until the store has answered:
 *
 * - Within `limit` bytes the response is held whole, passed to
 *   `execution.complete`, then sent exactly as the handler wrote it (or the
 *   replacement `complete` returned, such as a 503 for a rolled-back write).
 * - A `text/event-stream`, a declared `Content-Length` over the limit, or a
 *   body that grows past it is recorded as "ran, not stored" and then streams
 *   through untouched, head and buffered chunks first.
 * - If the connection closes after the handler started its response but
 *   before it ended it, the key is released: there is no whole response to keep.
 *   If it closes before the handler answered at all, nothing happens yet: the
 *   handler is still working, and its answer is stored when it ends, so a
 *   client that timed out and retries gets a replay, not a second execution.
 *
 * While the response is held, `headersSent` and `writableEnded` report what
 * the handler did, so frameworks (Express's final handler, Fastify's stream
 * errors) act as they would without idem. Wrappers installed on the response
 * after this call (compression, say) keep working: they wrap the capture.
 */
export function captureNodeResponse(
  res: NodeResponseLike,
  execution: HttpExecution,
  limit: number,
): void {
  type Mode = 'buffer' | 'hold' | 'through' | 'swallow' | 'off';
  let mode: Mode = 'buffer';
  let chunks: Uint8Array[] = [];
  let size = 0;
  let headStarted = false;
  let flushRequested = false;
  let ended = false;
  let endCallback: Callback | undefined;
  // Set while idem itself writes through the original methods: Node's own
  // end() calls this.writeHead(), which must then reach the original too.
  let passing = false;

  const target = res as unknown as Record<string, unknown>;
  const originals = new Map<string, { method: Method }>();
  for (const name of PATCHED) {
    originals.set(name, { method: target[name] as Method });
  }
  const original = (name: (typeof PATCHED)[number], ...args: unknown[]) =>
    originals.get(name)!.method.apply(res, args);
  const delegating = () => passing || mode === 'through' || mode === 'off';

  const later = (callback: unknown) => {
    if (typeof callback === 'function') queueMicrotask(() => (callback as Callback)());
  };

  const headers = (): Array<[string, string]> => {
    const list: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(res.getHeaders())) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) list.push([name, String(v)]);
      else list.push([name, String(value)]);
    }
    return list;
  };

  const take = (chunk: unknown, encoding: unknown) => {
    if (chunk === undefined || chunk === null) return;
    const bytes = toBytes(chunk, typeof encoding === 'string' ? encoding : undefined);
    if (bytes.byteLength === 0) return;
    chunks.push(bytes);
    size += bytes.byteLength;
  };

  const patched: Record<(typeof PATCHED)[number], Method> = {
    writeHead(status, ...rest) {
      if (delegating()) return original('writeHead', status, ...rest);
      if (mode === 'swallow') return res;
      res.statusCode = Number(status);
      let fields = rest[0];
      if (typeof fields === 'string') {
        res.statusMessage = fields;
        fields = rest[1];
      }
      applyHeaders(res, fields);
      startHead();
      return res;
    },
    flushHeaders() {
      if (delegating()) return original('flushHeaders');
      if (mode === 'swallow') return;
      flushRequested = true;
      startHead();
    },
    write(chunk, encoding, callback) {
      if (delegating()) return original('write', chunk, encoding, callback);
      const cb = typeof encoding === 'function' ? encoding : callback;
      // After end() a real response refuses writes; there is nothing to add.
      if (mode !== 'swallow' && !ended) {
        take(chunk, encoding);
        startHead();
        if (mode === 'buffer' && size > limit) streamThrough();
      }
      later(cb);
      // Always "not congested": the bytes are held in memory, bounded by `limit`.
      return true;
    },
    end(chunk, encoding, callback) {
      if (delegating()) return original('end', chunk, encoding, callback);
      let data = chunk;
      let enc = encoding;
      let cb = callback;
      if (typeof data === 'function') {
        cb = data;
        data = undefined;
      } else if (typeof enc === 'function') {
        cb = enc;
        enc = undefined;
      }
      if (mode === 'swallow' || ended) {
        later(cb);
        return res;
      }
      take(data, enc);
      ended = true;
      endCallback = typeof cb === 'function' ? (cb as Callback) : undefined;
      startHead();
      if (mode === 'buffer') {
        if (size > limit) streamThrough();
        else finish();
      }
      // In 'hold' the pending decision sees `ended` and ends the response itself.
      return res;
    },
  };

  /**
   * Put the original methods back where nothing wrapped idem's (wrapped ones
   * now delegate), and let the state getters report the real state again. By
   * assignment, never `delete`: deleting properties turns the response into
   * a slow dictionary-mode object for the rest of its life in Node's code.
   */
  const unpatch = () => {
    for (const [name, { method }] of originals) {
      if (target[name] === patched[name as (typeof PATCHED)[number]]) target[name] = method;
    }
    for (const name of STATE) {
      Object.defineProperty(res, name, { configurable: true, get: inherited(res, name) });
    }
  };

  const through = (action: () => void) => {
    passing = true;
    try {
      action();
    } finally {
      passing = false;
    }
  };

  /** Send what the handler wrote, as it wrote it, and step out of the way. */
  const forward = () => {
    mode = ended ? 'off' : 'through';
    const pending = chunks;
    chunks = [];
    unpatch();
    through(() => {
      if (flushRequested && pending.length === 0 && !ended) original('flushHeaders');
      if (!ended) {
        for (const chunk of pending) original('write', chunk);
      } else if (pending.length === 0) {
        original('end', endCallback);
      } else {
        // One end() with the whole body: Node sends the head and body together.
        original('end', pending.length === 1 ? pending[0] : concatBytes(pending), endCallback);
      }
    });
  };

  const replaceWith = (response: HttpResponse) => {
    // The handler may still be writing: what it writes from now on has no client.
    mode = 'swallow';
    chunks = [];
    for (const name of STATE) {
      Object.defineProperty(res, name, { configurable: true, get: inherited(res, name) });
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    through(() => {
      res.statusCode = response.status;
      setHeaders(res, response.headers);
      original('end', isNullBodyStatus(response.status) ? undefined : response.body, endCallback);
    });
  };

  const settle = (outcome: Promise<HttpResponse | undefined>) => {
    mode = 'hold';
    outcome.then(
      (replacement) => (replacement ? replaceWith(replacement) : forward()),
      // complete() rejects only on a bug; the client still gets the handler's answer.
      () => forward(),
    );
  };

  function streamThrough() {
    settle(execution.complete({ status: res.statusCode, headers: headers(), body: null }));
  }

  function finish() {
    settle(
      execution.complete({ status: res.statusCode, headers: headers(), body: concatBytes(chunks) }),
    );
  }

  function startHead() {
    if (headStarted) return;
    headStarted = true;
    if (
      mode === 'buffer' &&
      streamsThrough(headerText(res, 'content-type'), headerText(res, 'content-length'), limit)
    ) {
      streamThrough();
    }
  }

  Object.assign(target, patched);
  Object.defineProperty(res, 'headersSent', { configurable: true, get: () => headStarted });
  Object.defineProperty(res, 'writableEnded', { configurable: true, get: () => ended });

  res.on('close', () => {
    // A response already decided, streaming or done is not ours to touch.
    if (mode !== 'buffer') return;
    // No answer begun yet: the handler is still working (the client timed out,
    // say). Keep the claim; its answer is stored when it ends.
    if (!headStarted && !ended) return;
    // Cut off mid-response: there is no whole response to store.
    mode = 'off';
    chunks = [];
    unpatch();
    void execution.fail();
  });
}

/** The getter `name` has on `object`'s prototype chain, bound to `object`. */
function inherited(object: object, name: string): () => unknown {
  for (let proto = Object.getPrototypeOf(object); proto; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor?.get) return descriptor.get.bind(object);
    if (descriptor) return () => (descriptor as { value?: unknown }).value;
  }
  return () => undefined;
}

function setHeaders(res: NodeResponseLike, headers: Iterable<readonly [string, string]>): void {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const list = grouped.get(name);
    if (list) list.push(value);
    else grouped.set(name, [value]);
  }
  for (const [name, values] of grouped)
    res.setHeader(name, values.length === 1 ? values[0]! : values);
}

function headerText(res: NodeResponseLike, name: string): string | null {
  const value = res.getHeaders()[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** Apply the headers `writeHead` was given, as Node would merge them. */
function applyHeaders(res: NodeResponseLike, fields: unknown): void {
  if (fields === undefined || fields === null) return;
  if (!Array.isArray(fields)) {
    for (const [name, value] of Object.entries(fields as Record<string, NodeHeaderValue>)) {
      if (value !== undefined) res.setHeader(name, value);
    }
    return;
  }
  // Node takes [name, value, name, value, …] (and, leniently, [[name, value], …]).
  const pairs: Array<[string, string]> = fields.every(Array.isArray)
    ? fields.map(([n, v]: unknown[]) => [String(n).toLowerCase(), String(v)])
    : Array.from({ length: Math.floor(fields.length / 2) }, (_, i) => [
        String(fields[2 * i]).toLowerCase(),
        String(fields[2 * i + 1]),
      ]);
  setHeaders(res, pairs);
}

type NodeBuffer = { from(text: string, encoding: string): Uint8Array };

function toBytes(chunk: unknown, encoding: string | undefined): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  const text = String(chunk);
  if (encoding === undefined || /^utf-?8$/i.test(encoding)) return utf8(text);
  // Only Node responses get here, and Node has Buffer for its other encodings.
  return (globalThis as unknown as { Buffer: NodeBuffer }).Buffer.from(text, encoding);
}
