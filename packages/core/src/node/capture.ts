import { concatBytes, utf8 } from '../bytes.js';
import { isNullBodyStatus, streamsThrough } from '../http/body.js';
import type { HttpExecution, HttpResponse } from '../http/handler.js';
import {
  type NodeHeaderValue,
  type NodeResponseLike,
  nodeHeaderLines,
  setHeaders,
} from './response.js';

type Callback = (error?: Error | null) => void;
type Method = (...args: unknown[]) => unknown;
const PATCHED = ['writeHead', 'write', 'end', 'flushHeaders'] as const;
const STATE = ['headersSent', 'writableEnded'] as const;

/**
 * What a capture tells the response's `headersSent` and `writableEnded` while
 * it holds the response. Captures of one response (two idem middlewares)
 * stack through `outer`; the innermost live one answers.
 */
interface Held {
  live: boolean;
  headStarted: boolean;
  ended: boolean;
  /** The capture's own methods while it patches the response; `undefined` once it stepped aside. */
  methods: Record<(typeof PATCHED)[number], Method> | undefined;
  readonly outer: Held | undefined;
}

const HELD = Symbol('idem.capture');
type Captured = { [HELD]?: Held | undefined };

/**
 * The state getters are defined once per response, with the same two
 * functions for every response: V8 then shares the response's hidden class
 * with every other captured response. Per-request getters (or redefining
 * them) would turn each response into a slow dictionary-mode object.
 */
const heldGetters = {
  headersSent(this: Captured): unknown {
    for (let held = this[HELD]; held; held = held.outer) if (held.live) return held.headStarted;
    return inherited(this, 'headersSent');
  },
  writableEnded(this: Captured): unknown {
    for (let held = this[HELD]; held; held = held.outer) if (held.live) return held.ended;
    return inherited(this, 'writableEnded');
  },
};

/**
 * Per response prototype, a layer between it and the responses idem
 * captures: its methods and state getters route to the capture that holds
 * the response, or to the prototype's once the capture stepped aside.
 * Putting a response on it (one cached prototype transition) costs a
 * fraction of adding six own properties to an object of forty fields,
 * which Express pays on every request otherwise.
 */
const layers = new WeakMap<object, object>();

function layerOver(proto: object): object {
  let layer = layers.get(proto);
  if (layer) return layer;
  layer = Object.create(proto) as object;
  const base = proto as Record<string, Method>;
  for (const name of PATCHED) {
    Object.defineProperty(layer, name, {
      configurable: true,
      writable: true,
      // The prototype's method is looked up per call: an agent that wraps
      // it later (an APM's instrumentation) still sees every call.
      value: function (this: Captured, ...args: unknown[]) {
        const methods = this[HELD]?.methods;
        return (methods ? methods[name] : base[name]!).apply(this, args);
      },
    });
  }
  for (const name of STATE) {
    Object.defineProperty(layer, name, { configurable: true, get: heldGetters[name] });
  }
  layers.set(proto, layer);
  return layer;
}

/** Options of {@link captureNodeResponse}. */
export interface CaptureOptions {
  /** Largest body held for storage, in bytes (`HttpIdempotency.maxResponseBytes`). */
  readonly limit: number;
  /**
   * After the client went away, how long the handler may still take to end
   * its response before the key is recorded as "ran, not stored".
   * @default the execution's lease (`execution.leaseMs`: the route's, or the engine's)
   */
  readonly abandonAfterMs?: number;
}

/**
 * Capture what the handler sends on a Node response and hand it to the
 * execution, writing nothing to the client until the store has answered.
 * The capture moves through these modes:
 *
 * | mode      | what writes do                  | left when                                                            | to        |
 * | --------- | ------------------------------- | -------------------------------------------------------------------- | --------- |
 * | `buffer`  | held in memory                  | `end()` within `limit`: `complete` with the whole body               | `hold`    |
 * |           |                                 | event stream, declared length or body over `limit`: `complete(null)` | `hold`    |
 * |           |                                 | client gone and no `end()` within `abandonAfterMs`: `complete(null)` | `off`     |
 * | `hold`    | held (the store is answering)   | the store answered: send what was held                               | `through` (`off` once ended) |
 * |           |                                 | `complete` returned a replacement (a 503): send it instead           | `swallow` |
 * | `through` | written to the client           | the handler ends                                                     | `off`     |
 * | `swallow` | dropped (nobody will read them) | never                                                                |           |
 * | `off`     | Node's own methods, unpatched   | never                                                                |           |
 *
 * Once the handler has run, a client that disconnects never releases the
 * key: it ran, so its answer is stored when it ends (and the client's retry
 * gets the replay), or, if it never ends, recorded as "ran, not stored".
 *
 * While the response is held, `headersSent` and `writableEnded` report what
 * the handler did, so frameworks (Express's final handler) act as they
 * would without idem. Wrappers installed on the response after this call
 * (compression, say) keep working: they wrap the capture.
 */
export function captureNodeResponse(
  res: NodeResponseLike,
  execution: HttpExecution,
  options: CaptureOptions,
): void {
  const { limit, abandonAfterMs = execution.leaseMs } = options;
  type Mode = 'buffer' | 'hold' | 'through' | 'swallow' | 'off';
  let mode: Mode = 'buffer';
  let chunks: Uint8Array[] = [];
  let size = 0;
  let flushRequested = false;
  let endCallback: Callback | undefined;
  // Set while idem itself writes through the original methods: Node's own
  // end() calls this.writeHead(), which must then reach the original too.
  let passing = false;

  const target = res as unknown as Record<string, unknown> & Captured;
  const originals = {
    writeHead: target.writeHead as Method,
    write: target.write as Method,
    end: target.end as Method,
    flushHeaders: target.flushHeaders as Method,
  };
  const original = (name: (typeof PATCHED)[number], ...args: unknown[]) =>
    originals[name].apply(res, args);
  const held: Held = {
    live: true,
    headStarted: false,
    ended: false,
    methods: undefined,
    outer: target[HELD],
  };
  const delegating = () => passing || mode === 'through' || mode === 'off';

  const later = (callback: unknown) => {
    if (typeof callback === 'function') queueMicrotask(() => (callback as Callback)());
  };

  const headers = () => nodeHeaderLines(res.getHeaders());

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
      if (mode !== 'swallow' && !held.ended) {
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
      if (mode === 'swallow' || held.ended) {
        later(cb);
        return res;
      }
      take(data, enc);
      held.ended = true;
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
    for (const name of PATCHED) {
      if (target[name] === patched[name]) target[name] = originals[name];
    }
    held.methods = undefined;
    held.live = false;
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
    mode = held.ended ? 'off' : 'through';
    const pending = chunks;
    chunks = [];
    unpatch();
    through(() => {
      if (flushRequested && pending.length === 0 && !held.ended) original('flushHeaders');
      if (!held.ended) {
        for (const chunk of pending) original('write', chunk);
      } else if (pending.length === 0) {
        original('end', endCallback);
      } else {
        // One end() with the whole body: Node sends the head and body together.
        original('end', concatBytes(pending), endCallback);
      }
    });
  };

  const replaceWith = (response: HttpResponse) => {
    // The handler may still be writing: what it writes from now on has no client.
    mode = 'swallow';
    chunks = [];
    held.live = false;
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
    if (held.headStarted) return;
    held.headStarted = true;
    if (
      mode === 'buffer' &&
      streamsThrough(headerText(res, 'content-type'), headerText(res, 'content-length'), limit)
    ) {
      streamThrough();
    }
  }

  held.methods = patched;
  const proto = Object.getPrototypeOf(res) as object | null;
  if (proto !== null && !(HELD in target) && !PATCHED.some((name) => Object.hasOwn(res, name))) {
    // The usual case: the response's methods are its prototype's.
    Object.setPrototypeOf(res, layerOver(proto));
  } else {
    // Middleware before idem replaced a method on the response itself, or
    // another capture holds it: patch the response's own properties, in a
    // fixed order (Object.assign onto a response is several times slower).
    target.writeHead = patched.writeHead;
    target.write = patched.write;
    target.end = patched.end;
    target.flushHeaders = patched.flushHeaders;
    if (!(HELD in target)) {
      for (const name of STATE) {
        Object.defineProperty(res, name, { configurable: true, get: heldGetters[name] });
      }
    }
  }
  target[HELD] = held;

  res.on('close', () => {
    // A response already decided, streaming or done is not ours to touch.
    if (mode !== 'buffer' || held.ended) return;
    // The client left before the handler finished its answer. The handler
    // ran (it may have charged the card): its answer is stored when it ends,
    // so the client's retry gets a replay. A handler that never ends is
    // recorded as "ran, not stored", so the retry gets 410, never a second run.
    const timer = setTimeout(() => {
      if (mode !== 'buffer' || held.ended) return;
      mode = 'off';
      chunks = [];
      unpatch();
      void execution.complete({ status: res.statusCode, headers: headers(), body: null });
    }, abandonAfterMs);
    (timer as { unref?: () => void }).unref?.();
  });
}

/** What `object`'s prototype chain says `name` is, for `object`, past idem's own getters. */
function inherited(object: object, name: (typeof STATE)[number]): unknown {
  for (let proto = Object.getPrototypeOf(object); proto; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor?.get === heldGetters[name]) continue;
    if (descriptor?.get) return descriptor.get.call(object);
    if (descriptor) return descriptor.value;
  }
  return undefined;
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
