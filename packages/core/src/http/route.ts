import { sha256Hasher } from '../bytes.js';
import { ENGINE_OPTIONS } from '../engine/options.js';
import { ConfigurationError } from '../errors.js';
import { fingerprintNow, fingerprintRequest } from '../fingerprint.js';
import { keyProblem, type ParsedKey, parseIdempotencyKey } from '../key.js';
import { defineOptions, option, optionError, rule } from '../options/define.js';
import { boolean, fn, ownCheck, positiveMs, string, whole } from '../options/rules.js';
import { DEFAULT_PROBLEM_TYPE_BASE } from './problem.js';
import { isFinalStatus } from './status.js';

/**
 * Where a request's idempotency key comes from:
 * - a header name (`'x-github-delivery'`), read as the `Idempotency-Key`
 *   header is (bare or as an sf-string, one line only), or several, the
 *   first one present giving the key (`['webhook-id', 'svix-id']`);
 * - `{ headers: ['x-github-hook-id', 'x-github-delivery'] }`: all of these
 *   headers, joined by `:` in this order; the key is missing when one is.
 *   For an id that is unique only together with another (GitHub's delivery
 *   id is shared by every webhook subscribed to the event);
 * - `{ body: '/id' }`: a JSON Pointer into the JSON body (a webhook's event id);
 * - a function of the framework's request or context, returning the key or
 *   `undefined` when there is none.
 */
export type KeySource<Ctx> =
  | string
  | readonly string[]
  | { readonly body: string }
  | { readonly headers: readonly string[] }
  | ((ctx: Ctx) => string | undefined | Promise<string | undefined>);

/**
 * What makes two requests with one key "the same request" (a reused key
 * with a different one answers 422):
 * - `true` (the default): method, path, query and body;
 * - `{ omit, headers }`: the same, leaving out JSON body members by JSON
 *   Pointer (timestamps, trace ids that change between retries) and adding
 *   chosen request headers (an API version);
 * - a function of the request, returning any string: your own notion;
 * - `false`: the key alone; any request with the key replays the first
 *   answer, and no reuse is ever refused.
 */
export type FingerprintOption<Ctx> =
  | boolean
  | { readonly omit?: readonly string[]; readonly headers?: readonly string[] }
  | ((ctx: Ctx, request: RequestParts) => string | Promise<string>);

/** The parts of a request a fingerprint function sees. */
export interface RequestParts {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly body: Uint8Array;
  header(name: string): string | null;
}

/**
 * What a key must look like beyond the 1 to 255 printable ASCII characters
 * every key has: `'uuid'` (any version), a minimum length, a pattern, or a
 * test of your own.
 */
export type KeyFormat =
  | 'uuid'
  | { readonly minLength: number }
  | RegExp
  | ((key: string) => boolean);

/** A value, or a function of the request that decides it. */
export type PerRequest<Ctx, T> = T | ((ctx: Ctx) => T);

/**
 * The options one route (or one mount) can set; the adapters' route-level
 * overrides (`idempotency.route(...)`, Fastify's `config: { idempotency }`)
 * take these.
 */
export interface RouteOptions<Ctx> {
  /**
   * Who a key belongs to: keys never cross scopes, so one client can never
   * replay (or block, or probe) another's request. Return a tenant or user id.
   *
   * @default The request's `Authorization` header (hashed into the store key,
   * never stored in clear). Requests without one share a single anonymous key
   * space, and idem warns once, loudly, when that happens. Pass a stable
   * principal id instead when access tokens rotate faster than clients retry.
   */
  readonly scope?: (ctx: Ctx) => string | Promise<string>;
  /**
   * Where the key comes from (see {@link KeySource}).
   * @default 'idempotency-key' (the IETF draft's header)
   */
  readonly key?: KeySource<Ctx>;
  /**
   * Whether covered requests must carry a key (400 otherwise). When `false`,
   * requests without a key pass through unprotected.
   * @default true
   */
  readonly required?: boolean;
  /** What a key must look like (see {@link KeyFormat}); others get 400. @default any key */
  readonly keyFormat?: KeyFormat;
  /** What makes two requests the same (see {@link FingerprintOption}). @default true */
  readonly fingerprint?: FingerprintOption<Ctx>;
  /**
   * Methods idem covers; others pass through untouched.
   * @default ['POST', 'PATCH']
   */
  readonly methods?: readonly string[];
  /** Requests for which this returns `true` pass through untouched. @default none */
  readonly skip?: (ctx: Ctx) => boolean;
  /**
   * How long a completed result is kept and replayed, from completion: a
   * number of milliseconds, or a function of the request.
   * @default the engine's `ttlMs` (24 hours)
   */
  readonly ttlMs?: PerRequest<Ctx, number>;
  /**
   * How long an in-flight claim blocks duplicates before another caller may
   * take over: a number, or a function of the request.
   * @default the engine's `leaseMs` (30 seconds)
   */
  readonly leaseMs?: PerRequest<Ctx, number>;
  /**
   * Status for a key reused with a different request (use 400 for Stripe parity).
   * @default 422
   */
  readonly mismatchStatus?: number;
  /**
   * Which of the handler's answers are stored and replayed; for the others
   * the key is released, so the client's retry runs the handler again. A
   * thrown handler always releases the key.
   * @default isFinalStatus: everything except 5xx, 408, 425 and 429 (answers a retry may change)
   */
  readonly shouldStore?: (status: number) => boolean;
  /**
   * Largest request body idem reads to fingerprint, in bytes. A longer body
   * (by its `Content-Length`, or as it arrives) answers `413` before more than
   * this is read; nothing is stored. Requests idem does not cover are not read.
   * @default 1_048_576 (1 MiB)
   */
  readonly maxRequestBytes?: number;
  /**
   * The response headers stored and replayed, by name; others go out with
   * the first response only.
   * @default every header but hop-by-hop ones, `Date`, `Content-Length` and `Set-Cookie`
   */
  readonly replayHeaders?: readonly string[];
  /**
   * Store and replay `Set-Cookie` headers. Off by default so a replay never
   * hands out a session cookie minted for the first attempt.
   * @default false
   */
  readonly replaySetCookie?: boolean;
  /**
   * Prefix of problem `type` URIs.
   * @default 'urn:idem:problem:'
   */
  readonly problemTypeBase?: string;
  /**
   * A page documenting your API's idempotency rules: `400` (missing or
   * invalid key) and `422` (key reused) problems link to it with
   * `Link: <url>; rel="describedby"`, as the IETF draft suggests.
   * @default none
   */
  readonly documentationUrl?: string;
}

/** {@link RouteOptions} checked once, with defaults applied: what `handle` works from. */
export interface ResolvedRoute<Ctx> {
  readonly scope: ((ctx: Ctx) => string | Promise<string>) | undefined;
  /** Reads the key; `{ missing }` or an invalid key's reason otherwise. */
  readonly key: (ctx: Ctx, request: KeyRequest) => ParsedKey | Promise<ParsedKey>;
  /** Whether the key is read from the body (which must then be read first). */
  readonly keyInBody: boolean;
  /** The header the key is read from (lower-case), when it comes from a header. */
  readonly keyHeader: string | undefined;
  /** Where the key comes from, for problem details: `the Idempotency-Key header`. */
  readonly keyPlace: string;
  readonly required: boolean;
  readonly keyFormat: ((key: string) => string | undefined) | undefined;
  readonly fingerprint: (
    ctx: Ctx,
    request: RequestParts & { contentType: string | null },
  ) => string | Promise<string>;
  readonly methods: ReadonlySet<string>;
  readonly skip: ((ctx: Ctx) => boolean) | undefined;
  readonly ttlMs: ((ctx: Ctx) => number) | undefined;
  readonly leaseMs: ((ctx: Ctx) => number) | undefined;
  readonly mismatchStatus: number;
  readonly shouldStore: (status: number) => boolean;
  readonly maxRequestBytes: number;
  readonly replayHeaders: ReadonlySet<string> | undefined;
  readonly replaySetCookie: boolean;
  readonly problemTypeBase: string;
  readonly documentationUrl: string | undefined;
}

/** What a key source reads. */
export interface KeyRequest {
  header(name: string): string | null;
  /** The `Idempotency-Key` lines, separately, where the framework keeps them. */
  readonly keyLines?: readonly string[];
  /** The body, once read (for `{ body }` sources). */
  readonly body?: Uint8Array;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const POINTER = /^(?:\/(?:[^~/]|~[01])*)*$/;

/** The option's error: `idem: POST /webhooks: option "key" must be ..., got ...`. */
function fail(where: string, name: string, expects: string, value: unknown): never {
  throw optionError(where, name, expects, value);
}

function pointer(where: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || !POINTER.test(value)) {
    fail(where, name, "a JSON Pointer such as '/id' or '/data/object/id'", value);
  }
  return value;
}

/** The value at a JSON Pointer of a parsed document, or `undefined`. */
function at(document: unknown, path: string): unknown {
  let node = document;
  for (const raw of path.split('/').slice(1)) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node))
      node = /^(?:0|[1-9]\d*)$/.test(token) ? node[Number(token)] : undefined;
    else if (node !== null && typeof node === 'object') {
      node = Object.hasOwn(node, token) ? (node as Record<string, unknown>)[token] : undefined;
    } else return undefined;
  }
  return node;
}

const decoder = new TextDecoder();

/** A key taken from elsewhere than its header: 1 to 255 printable ASCII characters. */
function plainKey(value: unknown): ParsedKey {
  if (value === undefined || value === null || value === '') return { ok: false, missing: true };
  // A number is only its own key while it is exact: JSON.parse rounds larger
  // integers, so two ids 1 apart could come out as one key.
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    return {
      ok: false,
      missing: false,
      reason: `the key is a number that cannot be read exactly (integers up to ${Number.MAX_SAFE_INTEGER}); send it as a string`,
    };
  }
  const key = typeof value === 'number' ? String(value) : value;
  if (typeof key !== 'string')
    return { ok: false, missing: false, reason: 'the key is not a string' };
  const reason = keyProblem(key);
  return reason === undefined ? { ok: true, key } : { ok: false, missing: false, reason };
}

function keyReader<Ctx>(
  where: string,
  source: KeySource<Ctx> | undefined,
): ResolvedRoute<Ctx>['key'] {
  if (source === undefined || source === 'idempotency-key') {
    return (_ctx, request) =>
      parseIdempotencyKey(request.keyLines ?? request.header('idempotency-key'));
  }
  const headerNames = (list: readonly unknown[]) => {
    const names = list.map((name: unknown) => {
      if (typeof name !== 'string' || !/^[!#$%&'*+\-.^_`|~\w]+$/.test(name)) {
        fail(where, 'key', 'a header name, or a list of them', name);
      }
      return name.toLowerCase();
    });
    if (names.length === 0) fail(where, 'key', 'a list of one header name or more', list);
    return names;
  };
  if (typeof source === 'string' || Array.isArray(source)) {
    const names = headerNames(typeof source === 'string' ? [source] : source);
    return (_ctx, request) => {
      for (const name of names) {
        const value = request.header(name);
        if (value !== null) return parseIdempotencyKey(value);
      }
      return { ok: false, missing: true };
    };
  }
  if (typeof source === 'function') {
    return async (ctx) => plainKey(await source(ctx));
  }
  if (typeof source === 'object' && source !== null && 'headers' in source) {
    if (!Array.isArray(source.headers)) {
      fail(where, 'key.headers', 'a list of header names', source.headers);
    }
    const names = headerNames(source.headers);
    return (_ctx, request) => {
      const parts: string[] = [];
      for (const name of names) {
        const part = parseIdempotencyKey(request.header(name));
        if (!part.ok) return part;
        parts.push(part.key);
      }
      return plainKey(parts.join(':'));
    };
  }
  if (typeof source === 'object' && source !== null && 'body' in source) {
    const path = pointer(where, 'key.body', source.body);
    return (_ctx, request) => {
      let document: unknown;
      try {
        document = JSON.parse(decoder.decode(request.body));
      } catch {
        return { ok: false, missing: true };
      }
      return plainKey(at(document, path));
    };
  }
  return fail(
    where,
    'key',
    "a header name ('x-github-delivery'), { headers: [...] }, { body: '/id' } or a function of the request",
    source,
  );
}

/** Where a key source looks, in words. */
function keyPlace<Ctx>(source: KeySource<Ctx> | undefined): string {
  const names =
    source === undefined
      ? ['Idempotency-Key']
      : typeof source === 'string'
        ? [source]
        : Array.isArray(source)
          ? source
          : undefined;
  if (names) return `the ${names.join(' or ')} header`;
  if (typeof source === 'object' && source !== null && 'headers' in source)
    return `the ${source.headers.join(' and ')} headers`;
  if (typeof source === 'object' && source !== null && 'body' in source)
    return `the body at ${source.body}`;
  return 'the request';
}

function formatCheck(
  where: string,
  format: KeyFormat | undefined,
): ResolvedRoute<unknown>['keyFormat'] {
  if (format === undefined) return undefined;
  if (format === 'uuid') return (key) => (UUID.test(key) ? undefined : 'the key must be a UUID');
  if (format instanceof RegExp) {
    return (key) => {
      format.lastIndex = 0;
      return format.test(key) ? undefined : `the key must match ${String(format)}`;
    };
  }
  if (typeof format === 'function') {
    return (key) =>
      format(key) ? undefined : 'the key does not have the form this endpoint requires';
  }
  if (
    typeof format === 'object' &&
    format !== null &&
    Number.isInteger(format.minLength) &&
    format.minLength > 0
  ) {
    const { minLength } = format;
    return (key) =>
      key.length >= minLength ? undefined : `the key must be at least ${minLength} characters long`;
  }
  return fail(
    where,
    'keyFormat',
    "'uuid', { minLength: n } (n 1 or more), a RegExp or a function of the key",
    format,
  );
}

function fingerprinter<Ctx>(
  where: string,
  option: FingerprintOption<Ctx> | undefined,
): ResolvedRoute<Ctx>['fingerprint'] {
  // Synchronous where the runtime hashes synchronously (Node): no await per request.
  if (option === undefined || option === true) {
    return (_ctx, request) => fingerprintNow(request) ?? fingerprintRequest(request);
  }
  if (option === false) return () => 'idem-key-only';
  if (typeof option === 'function') {
    return async (ctx, request) => {
      const own = await option(ctx, request);
      if (typeof own !== 'string') {
        throw new ConfigurationError(
          `${where}: the fingerprint function must return a string, got ${typeof own}.`,
        );
      }
      return sha256Hasher().update(`idem-fp-own:${own}`).hex();
    };
  }
  if (typeof option === 'object' && option !== null) {
    const omit = new Set(
      (option.omit ?? []).map((p, i) => pointer(where, `fingerprint.omit[${i}]`, p)),
    );
    const names = (option.headers ?? []).map((name) => {
      if (typeof name !== 'string' || name === '')
        fail(where, 'fingerprint.headers', 'a list of header names', option.headers);
      return name.toLowerCase();
    });
    return (_ctx, request) => {
      const input = {
        ...request,
        omit,
        headers: names.map((name) => [name, request.header(name)] as const),
      };
      return fingerprintNow(input) ?? fingerprintRequest(input);
    };
  }
  return fail(
    where,
    'fingerprint',
    'true, false, { omit, headers } or a function of the request',
    option,
  );
}

/** A number of milliseconds, or a function of the request (checked per request, by the engine). */
const msPerRequest = rule<PerRequest<unknown, number>>(
  `${positiveMs.expects}, or a function of the request returning one`,
  (v) => typeof v === 'function' || positiveMs.test(v),
);

function perRequest<Ctx>(
  value: PerRequest<Ctx, number> | undefined,
): ((ctx: Ctx) => number) | undefined {
  if (value === undefined || typeof value === 'function') return value;
  return () => value;
}

const HEADER_LIST = rule<readonly string[]>(
  "a list of header names, such as ['content-type', 'location']",
  (v) => Array.isArray(v) && v.every((h) => typeof h === 'string'),
);

/** Each route option's rule; the ones with their own check resolve below. */
const ROUTE_SPECS = {
  scope: option(
    fn<(ctx: unknown) => string | Promise<string>>(
      "of the request that returns the tenant or user id, such as scope: (c) => c.get('accountId')",
    ),
  ),
  key: option(ownCheck),
  required: option(boolean),
  keyFormat: option(ownCheck),
  fingerprint: option(ownCheck),
  methods: option(
    rule<readonly string[]>(
      "a list of HTTP methods, such as ['POST', 'PATCH']",
      (v) => Array.isArray(v) && v.every((m) => typeof m === 'string'),
    ),
  ),
  skip: option(fn<(ctx: unknown) => boolean>('of the request returning a boolean')),
  ttlMs: option(msPerRequest),
  leaseMs: option(msPerRequest),
  mismatchStatus: option(
    rule<number>(
      'a 4xx status, such as 400 or 422',
      (v) => Number.isInteger(v) && (v as number) >= 400 && (v as number) <= 499,
    ),
  ),
  shouldStore: option(
    fn<(status: number) => boolean>('of the status, such as (status) => status < 500'),
  ),
  maxRequestBytes: option(whole('bytes', 0)),
  replayHeaders: option(HEADER_LIST),
  replaySetCookie: option(boolean),
  problemTypeBase: option(string),
  documentationUrl: option(
    rule<string>('an http(s) URL', (v) => typeof v === 'string' && /^https?:\/\/\S+$/.test(v)),
  ),
};

const checkRoute = defineOptions(ROUTE_SPECS);

/** The names of {@link RouteOptions}. */
export const ROUTE_OPTIONS: readonly string[] = Object.keys(ROUTE_SPECS);

/** The named options of `options`, for the part of them one resolver reads. */
export function pick(options: object, names: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of names) {
    const value = (options as Record<string, unknown>)[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

/**
 * Check route options and apply them over `base` (the mount's options, or
 * the defaults): the error names the option and the fix.
 * @param where Names the route in errors, e.g. `'idem: POST /webhooks/stripe'`.
 */
export function resolveRoute<Ctx>(
  given: RouteOptions<Ctx>,
  base: ResolvedRoute<Ctx> | undefined,
  where: string,
): ResolvedRoute<Ctx> {
  // A route's overrides are route options only: an option of the whole
  // middleware would otherwise be ignored without a word. The mount's own
  // names were refused already, with the engine's.
  if (base !== undefined && typeof given === 'object' && given !== null) {
    const misplaced = Object.keys(given).find(
      (name) => ENGINE_OPTIONS.includes(name) && !ROUTE_OPTIONS.includes(name),
    );
    if (misplaced !== undefined) {
      throw new ConfigurationError(
        `${where}: ${misplaced} applies to the whole middleware, not to one route: set it where the middleware is made (idempotency({ ${misplaced} })), or make a middleware of its own for these routes.`,
      );
    }
  }
  const options = checkRoute(
    base === undefined ? pick(given, ROUTE_OPTIONS) : given,
    where,
  ) as RouteOptions<Ctx>;
  const has = (name: keyof RouteOptions<Ctx>) => options[name] !== undefined;
  const scope = options.scope;
  const mismatchStatus = options.mismatchStatus ?? base?.mismatchStatus ?? 422;
  const shouldStore = options.shouldStore ?? base?.shouldStore ?? isFinalStatus;
  const maxRequestBytes = options.maxRequestBytes ?? base?.maxRequestBytes ?? 1024 * 1024;
  const skip = options.skip;
  const replayHeaders = options.replayHeaders;
  const documentationUrl = options.documentationUrl;
  const keySource = options.key;
  return {
    scope: scope ?? base?.scope,
    key: has('key') || !base ? keyReader(where, keySource) : base.key,
    // Only `{ body }` waits for the body: a header, a list of headers,
    // `{ headers }` and a function are read before it (key, then body limit).
    keyInBody: has('key')
      ? typeof keySource === 'object' &&
        keySource !== null &&
        !Array.isArray(keySource) &&
        'body' in keySource
      : (base?.keyInBody ?? false),
    keyPlace: has('key') || !base ? keyPlace(keySource) : base.keyPlace,
    keyHeader: has('key')
      ? typeof keySource === 'string'
        ? keySource.toLowerCase()
        : undefined
      : base
        ? base.keyHeader
        : 'idempotency-key',
    required: options.required ?? base?.required ?? true,
    keyFormat: has('keyFormat') ? formatCheck(where, options.keyFormat) : base?.keyFormat,
    fingerprint:
      has('fingerprint') || !base ? fingerprinter(where, options.fingerprint) : base.fingerprint,
    methods:
      has('methods') || !base
        ? new Set((options.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase()))
        : base.methods,
    skip: skip ?? base?.skip,
    ttlMs: has('ttlMs') ? perRequest(options.ttlMs) : base?.ttlMs,
    leaseMs: has('leaseMs') ? perRequest(options.leaseMs) : base?.leaseMs,
    mismatchStatus,
    shouldStore,
    maxRequestBytes,
    replayHeaders: replayHeaders
      ? new Set(replayHeaders.map((h) => h.toLowerCase()))
      : base?.replayHeaders,
    replaySetCookie: options.replaySetCookie ?? base?.replaySetCookie ?? false,
    problemTypeBase: options.problemTypeBase ?? base?.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE,
    documentationUrl: documentationUrl ?? base?.documentationUrl,
  };
}

/**
 * What an adapter throws when a request it is asked to protect already went
 * through an idem middleware: the outer one holds the key, so the inner one
 * could only answer 409 to its own request (and the outer would store that).
 * Thrown, so the outer middleware releases the key and the app answers 500
 * until the mounts are fixed.
 */
export function nestedMiddlewareError(): ConfigurationError {
  return new ConfigurationError(
    'idem: this request already passed through an idempotency middleware. A route takes idem.route({...}) instead of the mount, not in addition to it: mount idem only on the paths that keep its options.',
  );
}
