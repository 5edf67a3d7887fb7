import { bufferBody, discard, readBody } from './body.js';
import { IdempotentFetchError } from './errors.js';
import { attachInfo } from './info.js';
import { chooseKey } from './key.js';
import {
  CALL,
  type CallOptions,
  type IdempotentFetchOptions,
  type Resolved,
  type RetryEvent,
  refuseUnknown,
  resolveOptions,
} from './options.js';
import { backoffDelay, parseRetryAfter } from './retry.js';

/** `fetch`'s `init`, plus this call's idempotency options. */
export interface IdempotentRequestInit extends RequestInit {
  /**
   * This call's key and retry options. Giving it also covers a method that
   * `methods` leaves out (e.g. one `PUT`).
   */
  idempotency?: CallOptions;
}

/** A `fetch` that retries covered requests under one idempotency key. */
export type IdempotentFetch = (
  input: Request | string | URL,
  init?: IdempotentRequestInit,
) => Promise<Response>;

/**
 * Make a `fetch` that retries unsafe requests safely.
 *
 * A covered call (`POST` or `PATCH` by default) gets one idempotency key,
 * sent on every attempt with the same body bytes; network errors, attempt
 * timeouts and transient statuses (409, 425, 429, 5xx) are retried with
 * backoff, honouring `Retry-After`. Read the key, the attempts and whether the
 * answer was a replay with `idempotencyInfo(response)`.
 *
 * @throws IdempotentFetchError `CONFIGURATION` when an option is invalid.
 */
export function createIdempotentFetch(options: IdempotentFetchOptions = {}): IdempotentFetch {
  const resolved = resolveOptions(options);
  return (input, init) => {
    const { idempotency: call, ...rest } = init ?? {};
    const send = resolved.fetch ?? ((i, n) => globalThis.fetch(i, n));
    const method = rest.method ?? (isRequest(input) ? input.method : 'GET');
    if (call === undefined && !resolved.methods.includes(method.toUpperCase())) {
      return send(input, init && rest);
    }
    return run(input, rest, call ?? {}, resolved, send);
  };
}

/**
 * The default instance: `createIdempotentFetch()` with every default, on
 * `globalThis.fetch`.
 */
export const idempotentFetch: IdempotentFetch = /* @__PURE__ */ createIdempotentFetch();

type Send = NonNullable<Resolved['fetch']>;

async function run(
  input: Request | string | URL,
  init: RequestInit,
  call: CallOptions,
  defaults: Resolved,
  send: Send,
): Promise<Response> {
  refuseUnknown(call, CALL, "{ idempotency: { key: 'order-1' } }");
  const { key: callKey, ...retry } = call;
  const o = Object.keys(retry).length === 0 ? defaults : resolveOptions(retry, defaults);
  const deadline = Date.now() + o.deadlineMs;
  // The Request validates the URL, method and headers once (a TypeError here is
  // the caller's, never retried), and turns every kind of body into one stream.
  const request = new Request(input, init);
  const { signal, method, url } = request;
  if (signal.aborted) throw signal.reason;
  const headers = new Headers(request.headers);
  const key = chooseKey(headers, o, callKey);

  let body: Uint8Array<ArrayBuffer> | undefined;
  if (request.body) {
    const read = await within(readBody(request.body, o.maxBodyBytes), signal, deadline).catch(
      (cause: unknown) => {
        if (signal.aborted) throw signal.reason;
        throw new IdempotentFetchError(
          'BODY_UNREADABLE',
          'The request body could not be read whole, so nothing was sent. Pass a string, bytes, a Blob, FormData or a stream that ends.',
          { key, cause },
        );
      },
    );
    if (read === ELAPSED) throw deadlineExceeded(o, key, 0);
    if (read === 'too-large') {
      throw new IdempotentFetchError(
        'BODY_TOO_LARGE',
        `The request body is over maxBodyBytes (${o.maxBodyBytes} bytes), the most kept in memory for retries; nothing was sent. Raise maxBodyBytes.`,
        { key },
      );
    }
    body = read;
  }
  const base: RequestInit = isRequest(input) ? { ...requestInit(request), ...init } : { ...init };
  delete base.body;

  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    const controller = new AbortController();
    const timeout = new DOMException(`attempt ${attempt} timed out`, 'TimeoutError');
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort);
    const limit = Math.min(o.attemptTimeoutMs, remaining);
    const timer =
      limit === Infinity ? undefined : setTimeout(() => controller.abort(timeout), limit);
    let response: Response | undefined;
    let failure: unknown;
    let streaming = false;
    try {
      response = await send(url, {
        ...base,
        method,
        headers,
        ...(body && { body }),
        signal: controller.signal,
      });
      streaming = !o.bufferResponses || isEventStream(response);
      if (!streaming) await bufferBody(response);
    } catch (error) {
      if (response) discard(response);
      response = undefined;
      failure = error;
    }
    clearTimeout(timer);
    // A streamed body stays tied to the caller's signal, as with fetch.
    if (!streaming) signal.removeEventListener('abort', onAbort);
    if (signal.aborted) {
      if (response) discard(response);
      throw signal.reason;
    }
    const timedOut = response === undefined && controller.signal.reason === timeout;
    if (timedOut && limit < o.attemptTimeoutMs) throw deadlineExceeded(o, key, attempt, failure);

    let delayMs: number;
    if (response) {
      const replayed = response.headers.get('idempotent-replayed') === 'true';
      const final = replayed || !o.retryStatuses.includes(response.status);
      delayMs = delayFor(response, attempt, o);
      if (final || attempt >= o.maxAttempts || Date.now() + delayMs >= deadline) {
        return attachInfo(response, { key, attempts: attempt, replayed });
      }
      signal.removeEventListener('abort', onAbort);
      discard(response);
    } else {
      if (attempt >= o.maxAttempts) {
        throw new IdempotentFetchError(
          'ATTEMPTS_EXHAUSTED',
          `${method} ${url} got no response in ${attempt} attempts (last: ${describe(failure)}).${comeBack(key)}`,
          { key, attempts: attempt, cause: failure },
        );
      }
      delayMs = delayFor(undefined, attempt, o);
      if (Date.now() + delayMs >= deadline) throw deadlineExceeded(o, key, attempt, failure);
    }
    const event: RetryEvent = { key, method, url, attempt, delayMs };
    o.onRetry?.(response ? { ...event, status: response.status } : { ...event, error: failure });
    await within(new Promise<never>(() => {}), signal, Date.now() + delayMs);
  }
}

/** Wait before the next attempt: the server's `Retry-After` (capped), else backoff. */
function delayFor(response: Response | undefined, attempt: number, o: Resolved): number {
  const asked = response && parseRetryAfter(response.headers.get('retry-after'), Date.now());
  if (asked !== undefined) return Math.min(asked, o.maxRetryAfterMs);
  return backoffDelay(attempt, o.baseDelayMs, o.maxDelayMs, Math.random());
}

const ELAPSED = Symbol('elapsed');

/** `promise`, or ELAPSED once `until` (ms since the epoch) passes; rejects with the reason on abort. */
function within<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  until: number,
): Promise<T | typeof ELAPSED> {
  return new Promise((resolve, reject) => {
    const ms = until - Date.now();
    const timer = ms === Infinity ? undefined : setTimeout(() => done(resolve, ELAPSED), ms);
    const onAbort = () => done(reject, signal.reason);
    const done = <V>(settle: (value: V) => void, value: V) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      settle(value);
    };
    signal.addEventListener('abort', onAbort);
    promise.then(
      (value) => done(resolve, value),
      (error) => done(reject, error),
    );
  });
}

function deadlineExceeded(o: Resolved, key: string, attempts: number, cause?: unknown) {
  return new IdempotentFetchError(
    'DEADLINE_EXCEEDED',
    `No response within deadlineMs (${o.deadlineMs} ms), ${attempts} attempt(s).${comeBack(key)}`,
    { key, attempts, ...(cause !== undefined && { cause }) },
  );
}

const comeBack = (key: string) =>
  ` It may have run: send it again with idempotency: { key: '${key}' } to get its result without running it twice.`;

function describe(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return cause instanceof Error ? `${text} (${cause.message})` : text;
}

function isEventStream(response: Response): boolean {
  return /^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '');
}

/** Duck-typed: a Request from another realm or another copy of undici counts. */
function isRequest(input: unknown): input is Request {
  return typeof input === 'object' && input !== null && 'method' in input && 'url' in input;
}

/** The default value of each `Request` property that `init` can set. */
const REQUEST_DEFAULTS: Record<string, unknown> = {
  cache: 'default',
  credentials: 'same-origin',
  integrity: '',
  keepalive: false,
  mode: 'cors',
  redirect: 'follow',
  referrer: 'about:client',
  referrerPolicy: '',
};

/**
 * A Request's settings as `init`, for resending it with a buffered body.
 * Only non-default values are copied: runtimes that do not implement a
 * setting (workerd has no `mode` or `credentials`) never see it.
 */
function requestInit(request: Request): RequestInit {
  const init: Record<string, unknown> = {};
  for (const [name, fallback] of Object.entries(REQUEST_DEFAULTS)) {
    const value = (request as unknown as Record<string, unknown>)[name];
    if (value !== undefined && value !== fallback) init[name] = value;
  }
  // A navigation request cannot be constructed; fetch treats it as same-origin.
  if (init.mode === 'navigate') init.mode = 'same-origin';
  return init as RequestInit;
}
