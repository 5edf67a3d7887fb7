import { IdempotentFetchError } from './errors.js';

/** What {@link IdempotentFetchOptions.onRetry} is told before each retry. */
export interface RetryEvent {
  /** The idempotency key, the same on every attempt of the call. */
  readonly key: string;
  /** The request's method. */
  readonly method: string;
  /** The request's URL. */
  readonly url: string;
  /** The attempt that just failed: 1 for the first request. */
  readonly attempt: number;
  /** How long the client waits before the next attempt, in ms. */
  readonly delayMs: number;
  /** The status that is being retried, when the attempt got a response. */
  readonly status?: number;
  /** Why the attempt failed when it got no response (network error or attempt timeout). */
  readonly error?: unknown;
}

/** How calls are retried; every option can also be set for one call (`idempotency` in `init`). */
export interface RetryOptions {
  /**
   * Requests sent at most for one call, the first included.
   * @default 5
   */
  readonly maxAttempts?: number;
  /**
   * How long one attempt may take, until its whole response body has arrived
   * (see `bufferResponses`); a slower attempt is abandoned and retried with
   * the same key. `Infinity` for no limit.
   * @default 30000
   */
  readonly attemptTimeoutMs?: number;
  /**
   * How long the whole call may take, waits between attempts included; when it
   * runs out the call fails with `DEADLINE_EXCEEDED`. `Infinity` for no limit.
   * @default 90000
   */
  readonly deadlineMs?: number;
  /**
   * The backoff's first ceiling: the n-th retry waits a random time between 0
   * and `min(maxDelayMs, baseDelayMs · 2^(n-1))` (full jitter).
   * @default 200
   */
  readonly baseDelayMs?: number;
  /**
   * The backoff's largest ceiling.
   * @default 10000
   */
  readonly maxDelayMs?: number;
  /**
   * The longest wait a server's `Retry-After` gets: a longer one is cut to this.
   * @default 30000
   */
  readonly maxRetryAfterMs?: number;
  /**
   * Statuses worth another attempt with the same key: the request is in
   * flight (409), too early (425), throttled (429), or the server or a proxy
   * failed (500, 502, 503, 504). Any other status is returned as it is, and so
   * is any response marked `Idempotent-Replayed: true` (a stored answer does
   * not change).
   * @default [409, 425, 429, 500, 502, 503, 504]
   */
  readonly retryStatuses?: readonly number[];
  /**
   * Called before each retry (for logging or metrics). An error it throws
   * ends the call with that error.
   */
  readonly onRetry?: (event: RetryEvent) => void;
}

/** Options of `createIdempotentFetch`. */
export interface IdempotentFetchOptions extends RetryOptions {
  /**
   * The `fetch` that sends each attempt. Looked up on `globalThis` at call
   * time when not given, so polyfills and request mocks installed later work.
   * @default globalThis.fetch
   */
  readonly fetch?: (input: Request | string | URL, init?: RequestInit) => Promise<Response>;
  /**
   * Methods that get a key and retries. Other methods go to `fetch`
   * untouched, once; a call can opt in with `init.idempotency`.
   * @default ['POST', 'PATCH']
   */
  readonly methods?: readonly string[];
  /**
   * The request header that carries the key.
   * @default 'Idempotency-Key'
   */
  readonly header?: string;
  /**
   * Mints a key for a call that brings none.
   * @default () => crypto.randomUUID()
   */
  readonly generateKey?: () => string;
  /**
   * The largest request body buffered for resending, in bytes; a larger body
   * fails the call with `BODY_TOO_LARGE` before anything is sent.
   * @default 10485760
   */
  readonly maxBodyBytes?: number;
  /**
   * Read each response body whole before resolving, so that a connection that
   * breaks in the middle of a body is retried with the same key (and the
   * caller gets the replay) instead of failing in `response.json()`. Event
   * streams (`text/event-stream`) are never read ahead. Off: the call resolves
   * at the response headers, as `fetch` does.
   * @default true
   */
  readonly bufferResponses?: boolean;
}

/** Per-call options: `idempotentFetch(url, { method: 'POST', body, idempotency: { key } })`. */
export interface CallOptions extends RetryOptions {
  /**
   * This call's key (1 to 255 printable ASCII characters), e.g. an order id
   * kept across page reloads. Default: the `Idempotency-Key` header set in
   * `init.headers`, else a new key from `generateKey`.
   */
  readonly key?: string;
}

/** Options after defaults, validated. */
export interface Resolved extends Required<Omit<IdempotentFetchOptions, 'fetch' | 'onRetry'>> {
  readonly fetch: IdempotentFetchOptions['fetch'];
  readonly onRetry: RetryOptions['onRetry'];
}

const DEFAULTS = {
  maxAttempts: 5,
  attemptTimeoutMs: 30_000,
  deadlineMs: 90_000,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 30_000,
  retryStatuses: [409, 425, 429, 500, 502, 503, 504],
  methods: ['POST', 'PATCH'],
  header: 'Idempotency-Key',
  maxBodyBytes: 10 * 1024 * 1024,
  bufferResponses: true,
  generateKey: randomKey,
} as const;

/** A random UUID (v4); built by hand where `crypto.randomUUID` is missing (insecure browser contexts). */
function randomKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const MAX_TIMER = 2 ** 31 - 1;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// DEFAULTS lists the retry options first: one call may set those (and its key).
const RETRY: string[] = [...Object.keys(DEFAULTS).slice(0, 7), 'onRetry'];
const INSTANCE: string[] = [...Object.keys(DEFAULTS), 'fetch', 'onRetry'];
/** The names `init.idempotency` takes. */
export const CALL: string[] = ['key', ...RETRY];

/**
 * Refuse option names nobody reads: from JavaScript a typo (`timeoutMs` for
 * `attemptTimeoutMs`) would otherwise leave the default in force, silently.
 */
export function refuseUnknown(options: unknown, known: string[], example: string): void {
  if (typeof options !== 'object' || options === null) {
    throw configuration(`pass an options object, such as ${example}, got ${show(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw configuration(
        `unknown option ${JSON.stringify(name)}${nearest(name.toLowerCase(), known)}; the options are ${known.join(', ')}`,
      );
    }
  }
}

/**
 * ` (did you mean "x"?)` for the known name closest to a misspelt one, if one
 * is close. The same scoring and words as core's option resolver: the client
 * has no dependency on core, and a copy this small costs less than one.
 */
function nearest(typed: string, known: string[]): string {
  let best = '';
  let most = Math.max(2, typed.length / 3);
  for (const name of known) {
    const lower = name.toLowerCase();
    // A part of the name (`timeout`, `deadline`) is as close as a one-letter slip.
    const score = typed.length > 3 && lower.includes(typed) ? 1 : distance(typed, lower);
    if (score <= most) [best, most] = [name, score - 0.5];
  }
  return best && ` (did you mean ${JSON.stringify(best)}?)`;
}

/** Levenshtein distance: the fewest one-letter edits that turn `a` into `b`. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 0; i < a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i + 1;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * Refuse `value` unless `ok`: `option "maxAttempts" must be a whole number of
 * attempts, 1 or more, got 0.`, the sentence core's option resolver words its
 * rules in (the client has no dependency on core; the wordings match).
 */
function must(name: string, expects: string, ok: boolean, value: unknown): void {
  if (!ok)
    throw configuration(`option ${JSON.stringify(name)} must be ${expects}, got ${show(value)}`);
}

/** How a value looks in an error message, as core's resolver shows it. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/** Apply defaults and check every option; throws `CONFIGURATION` naming the fix. */
export function resolveOptions(options: IdempotentFetchOptions, base?: Resolved): Resolved {
  if (!base) refuseUnknown(options, INSTANCE, 'createIdempotentFetch({ maxAttempts: 3 })');
  const r = { ...(base ?? DEFAULTS), ...defined(options) } as Resolved;
  const whole = (name: 'maxAttempts' | 'maxBodyBytes', unit: string) =>
    must(
      name,
      `a whole number of ${unit}, 1 or more`,
      Number.isSafeInteger(r[name]) && r[name] >= 1,
      r[name],
    );
  whole('maxAttempts', 'attempts');
  whole('maxBodyBytes', 'bytes');
  for (const name of [
    'attemptTimeoutMs',
    'deadlineMs',
    'baseDelayMs',
    'maxDelayMs',
    'maxRetryAfterMs',
  ] as const) {
    const value = r[name];
    // setTimeout fires at once for delays over 2^31 - 1 ms: refuse them rather than spin.
    // A time limit of 0 would fail every attempt: those two take Infinity for none instead.
    const min = name === 'attemptTimeoutMs' || name === 'deadlineMs' ? 'above 0' : '0 or more';
    must(
      name,
      `a number of milliseconds, ${min}, up to ${MAX_TIMER} (or Infinity: no limit)`,
      typeof value === 'number' &&
        (min === 'above 0' ? value > 0 : value >= 0) &&
        (value <= MAX_TIMER || value === Infinity),
      value,
    );
  }
  must(
    'retryStatuses',
    'an array of HTTP statuses (100-599), such as [503]',
    Array.isArray(r.retryStatuses) && r.retryStatuses.every(isStatus),
    r.retryStatuses,
  );
  must(
    'methods',
    "an array of method names, such as ['POST', 'PATCH']",
    Array.isArray(r.methods) && r.methods.every((m) => typeof m === 'string' && TOKEN.test(m)),
    r.methods,
  );
  must(
    'header',
    "a header name, such as 'Idempotency-Key'",
    typeof r.header === 'string' && TOKEN.test(r.header),
    r.header,
  );
  for (const name of ['fetch', 'onRetry', 'generateKey'] as const) {
    must(name, 'a function', r[name] === undefined || typeof r[name] === 'function', r[name]);
  }
  must(
    'bufferResponses',
    'true or false',
    typeof r.bufferResponses === 'boolean',
    r.bufferResponses,
  );
  return { ...r, methods: r.methods.map((m) => m.toUpperCase()) };
}

/** A copy of `options` without `undefined` values, so they do not hide defaults. */
function defined<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) (out as Record<string, unknown>)[name] = value;
  }
  return out;
}

const isStatus = (s: unknown) =>
  Number.isInteger(s) && (s as number) >= 100 && (s as number) <= 599;

function configuration(message: string): IdempotentFetchError {
  return new IdempotentFetchError('CONFIGURATION', `@idem/client: ${message}.`);
}
