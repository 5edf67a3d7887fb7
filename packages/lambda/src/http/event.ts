import { ConfigurationError } from '@idem/core';
import type { HttpRequest } from '@idem/core/http';
import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * The HTTP events idem understands: API Gateway REST APIs and HTTP APIs with
 * payload 1.0 (`APIGatewayProxyEvent`), HTTP APIs with payload 2.0 and
 * Function URLs (`APIGatewayProxyEventV2`), and Application Load Balancers
 * with or without multi-value headers (`ALBEvent`).
 */
export type LambdaHttpEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2 | ALBEvent;

/**
 * How an event reads and how its result is written: payload 1.0 (`v1`),
 * payload 2.0 (`v2`), an ALB with single headers (`alb`) or with
 * multi-value headers (`alb-multi`): an ALB answers in the form it asked in.
 */
export type EventFormat = 'v1' | 'v2' | 'alb' | 'alb-multi';

type AnyEvent = Partial<APIGatewayProxyEvent & ALBEvent> &
  Partial<Omit<APIGatewayProxyEventV2, 'headers' | 'requestContext'>> & {
    readonly requestContext?: { readonly elb?: unknown; readonly http?: { method?: string } };
  };

/** The format of an event, or `ConfigurationError` for an event that is not HTTP. */
export function formatOf(event: unknown): EventFormat {
  const e = event as AnyEvent | null;
  if (e !== null && typeof e === 'object') {
    if (e.version === '2.0' && typeof e.requestContext?.http?.method === 'string') return 'v2';
    if (typeof e.httpMethod === 'string') {
      if (e.requestContext?.elb === undefined) return 'v1';
      return e.multiValueHeaders ? 'alb-multi' : 'alb';
    }
  }
  throw new ConfigurationError(
    'idem: idempotency() wraps HTTP handlers (API Gateway REST and HTTP APIs, Function URLs, ALB), but the event has neither httpMethod nor requestContext.http.method. For SQS, Kinesis or DynamoDB Streams use idempotentBatch(); for any other event, makeIdempotent().',
  );
}

/** Header lines by lower-cased name, in the order the event lists them. */
type Lines = Map<string, string[]>;

function add(lines: Lines, name: string, values: readonly unknown[]): void {
  const lower = name.toLowerCase();
  const list = lines.get(lower);
  const strings = values.filter((v) => v !== undefined && v !== null).map(String);
  if (list) list.push(...strings);
  else lines.set(lower, strings);
}

/**
 * The request's header lines. With multi-value headers (payload 1.0 always
 * sends both maps, an ALB the one it is set for), each line is its own; a
 * payload 2.0 event has them joined with commas already and its cookies
 * apart, in `cookies`.
 */
function headerLines(event: AnyEvent, format: EventFormat): Lines {
  const lines: Lines = new Map();
  const multi = format === 'v2' ? undefined : event.multiValueHeaders;
  if (multi) {
    for (const [name, values] of Object.entries(multi)) add(lines, name, values ?? []);
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (!lines.has(name.toLowerCase())) add(lines, name, [value]);
  }
  if (format === 'v2' && event.cookies?.length && !lines.has('cookie')) {
    lines.set('cookie', [event.cookies.join('; ')]);
  }
  return lines;
}

/**
 * The query string as the client sent it, or as near as the event keeps it:
 * payload 2.0 has it raw; an ALB passes parameters on undecoded; payload 1.0
 * decodes them, so they are encoded back. Order is kept: idem's fingerprint
 * does not depend on it.
 */
function queryOf(event: AnyEvent, format: EventFormat): string {
  if (format === 'v2') return event.rawQueryString ?? '';
  const params = event.multiValueQueryStringParameters ?? undefined;
  const pairs: string[] = [];
  const encode = format === 'v1' ? encodeURIComponent : (s: string) => s;
  const push = (name: string, value: unknown) =>
    pairs.push(`${encode(name)}=${encode(String(value ?? ''))}`);
  if (params) {
    for (const [name, values] of Object.entries(params))
      for (const v of values ?? []) push(name, v);
  } else {
    for (const [name, value] of Object.entries(event.queryStringParameters ?? {}))
      push(name, value);
  }
  return pairs.join('&');
}

/** The route pattern for hook events: the REST resource, or the HTTP API route without its method. */
function routeOf(event: AnyEvent, format: EventFormat): string | undefined {
  if (format === 'v1') return event.resource ?? undefined;
  if (format !== 'v2' || !event.routeKey || event.routeKey === '$default') return undefined;
  const space = event.routeKey.indexOf(' ');
  return space === -1 ? event.routeKey : event.routeKey.slice(space + 1);
}

/** The body's bytes: base64-decoded when the event says so; empty when there is none. */
export function bodyBytes(event: { body?: unknown; isBase64Encoded?: boolean }): Uint8Array {
  const { body } = event;
  if (body === undefined || body === null || body === '') return new Uint8Array(0);
  if (typeof body !== 'string') {
    throw new ConfigurationError(
      `idem: the event's body is ${Array.isArray(body) ? 'an array' : typeof body}, not the string Lambda delivers: a body parser ran before idem. Put idem first (for Middy, use idempotencyMiddleware() before the parsers) so it fingerprints the body as sent.`,
    );
  }
  return event.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/**
 * What core reads of an HTTP event. Lambda holds the whole body already, so
 * `body(limit)` is the bytes, or `undefined` past the limit.
 *
 * @param leaseUntil The invocation's deadline plus its margin (see `invocationLeaseUntil`).
 */
export function requestOf(
  event: LambdaHttpEvent,
  format: EventFormat,
  leaseUntil: number | undefined,
): HttpRequest {
  const e = event as AnyEvent;
  let lines: Lines | undefined;
  const linesOf = (): Lines => (lines ??= headerLines(e, format));
  const multiValued = format === 'v1' || format === 'alb-multi';
  return {
    method: format === 'v2' ? (e.requestContext?.http?.method ?? 'GET') : (e.httpMethod ?? 'GET'),
    path: (format === 'v2' ? e.rawPath : e.path) || '/',
    query: queryOf(e, format),
    header: (name) => linesOf().get(name.toLowerCase())?.join(', ') ?? null,
    // Only where the event keeps each line: two Idempotency-Key lines are refused, not joined.
    ...(multiValued && { keyLines: linesOf().get('idempotency-key') }),
    route: () => routeOf(e, format),
    ...(leaseUntil !== undefined && { leaseUntil }),
    body(limit) {
      const bytes = bodyBytes(e);
      return bytes.byteLength > limit ? undefined : bytes;
    },
  };
}
