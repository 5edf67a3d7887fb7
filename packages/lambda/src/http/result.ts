import { STATUS_CODES } from 'node:http';
import { ConfigurationError } from '@idem/core';
import { type HttpExecution, type HttpResponse, streamsThrough } from '@idem/core/http';
import type {
  ALBResult,
  APIGatewayProxyResult,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import type { EventFormat } from './event.js';

/**
 * What an HTTP handler returns: a structured result (`statusCode`, headers,
 * body) in its event's format, or, for payload 2.0 (HTTP APIs and Function
 * URLs), any other value, which Lambda sends as a `200` JSON response.
 */
export type LambdaHttpResult =
  | APIGatewayProxyResult
  | APIGatewayProxyStructuredResultV2
  | ALBResult
  | string
  | number
  | boolean
  | object
  | null
  | undefined;

/** A handler's result as idem keeps it: status, header lines (cookies included), body bytes. */
export interface CapturedResult {
  readonly status: number;
  readonly headers: Array<[string, string]>;
  readonly body: Uint8Array;
  /** The handler sent its body base64 (`isBase64Encoded`): its replay goes out the same way. */
  readonly base64: boolean;
}

/**
 * Stored with a result whose body went out base64, so the replay goes out
 * base64 too (a REST API without binary media types shows the client the
 * base64 text itself). Never replayed: {@link resultOf} drops it.
 */
const BASE64_MARKER = 'idem-lambda-base64';

type Structured = {
  statusCode?: unknown;
  headers?: Record<string, unknown> | null;
  multiValueHeaders?: Record<string, unknown[] | undefined> | null;
  cookies?: unknown[] | null;
  body?: unknown;
  isBase64Encoded?: unknown;
};

const isObject = (value: unknown): value is Structured =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A handler's result as status, header lines and body bytes, as API Gateway,
 * a Function URL or an ALB would send it. Payload 1.0 and ALB results merge
 * `headers` into `multiValueHeaders` (a line in both goes out once, as API
 * Gateway merges them); payload 2.0 cookies become `set-cookie` lines; a 2.0
 * result without `statusCode` is what Lambda makes of it: `200`,
 * `content-type: application/json`, the value as JSON. Throws
 * `ConfigurationError` for a result its gateway would answer `502` to.
 */
export function captureResult(result: unknown, format: EventFormat): CapturedResult {
  if (format === 'v2' && !(isObject(result) && 'statusCode' in result)) {
    return {
      status: 200,
      headers: [['content-type', 'application/json']],
      body: Buffer.from(JSON.stringify(result ?? null) ?? 'null', 'utf8'),
      base64: false,
    };
  }
  const status = isObject(result) ? Number(result.statusCode) : Number.NaN;
  if (!isObject(result) || !Number.isInteger(status) || status < 100 || status > 599) {
    throw new ConfigurationError(
      `idem: the handler returned ${isObject(result) ? `statusCode ${JSON.stringify(result.statusCode)}` : describe(result)}, not a result with a statusCode from 100 to 599, which ${format === 'v1' ? 'API Gateway' : 'the load balancer'} answers with a 502. Return { statusCode, headers, body }.`,
    );
  }
  const headers: Array<[string, string]> = [];
  const multi = format === 'v2' ? undefined : result.multiValueHeaders;
  const inMulti = new Set<string>();
  if (multi) {
    for (const [name, values] of Object.entries(multi)) {
      for (const value of values ?? []) {
        headers.push([name, String(value)]);
        inMulti.add(`${name.toLowerCase()}\n${String(value)}`);
      }
    }
  }
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    if (value === undefined || value === null) continue;
    if (!inMulti.has(`${name.toLowerCase()}\n${String(value)}`))
      headers.push([name, String(value)]);
  }
  if (format === 'v2')
    for (const cookie of result.cookies ?? []) headers.push(['set-cookie', String(cookie)]);
  const base64 = result.isBase64Encoded === true;
  const body = typeof result.body === 'string' ? result.body : '';
  return {
    status,
    headers,
    body: Buffer.from(body, base64 ? 'base64' : 'utf8'),
    base64,
  };
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** The first value of a header among lines, by lower-case name. */
function headerOf(lines: ReadonlyArray<readonly [string, string]>, name: string): string | null {
  for (const [n, v] of lines) if (n.toLowerCase() === name) return v;
  return null;
}

/**
 * Carry out an `execute` decision once its handler returned: store its
 * result (core keeps or releases it by status), or record it as run without
 * its response when it is an event stream or over `limit` bytes, exactly as
 * the HTTP adapters do with a streamed body. A result its gateway would
 * refuse releases the key and throws. Resolves to the response core sends
 * instead (a `503` when a transactional store rolled the writes back), or
 * `undefined`: the handler's result goes out as it is.
 *
 * @param limit The engine's `maxResponseBytes`.
 */
export async function settleResult(
  execution: HttpExecution,
  result: unknown,
  format: EventFormat,
  limit: number,
): Promise<HttpResponse | undefined> {
  let captured: CapturedResult;
  try {
    captured = captureResult(result, format);
  } catch (error) {
    await execution.release();
    throw error;
  }
  const { status, headers, body, base64 } = captured;
  const kept =
    body.byteLength <= limit &&
    !streamsThrough(headerOf(headers, 'content-type'), headerOf(headers, 'content-length'), limit);
  return execution.complete({
    status,
    headers: base64 ? [...headers, [BASE64_MARKER, '1']] : headers,
    body: kept ? body : null,
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Whether bytes read back as UTF-8 text exactly. */
function isUtf8(bytes: Uint8Array): boolean {
  try {
    decoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * A response core decided (a replay or a problem) as its event's result:
 * payload 1.0 with `headers` for names sent once and `multiValueHeaders`
 * for repeated ones; payload 2.0 with repeated headers joined by commas and
 * `set-cookie` lines in `cookies`; an ALB in the form its event used, with
 * `statusDescription`. The body goes out base64 when the handler's did, or
 * when it is not UTF-8 text.
 */
export function resultOf(response: HttpResponse, format: EventFormat): LambdaHttpResult {
  const grouped = new Map<string, string[]>();
  let base64 = false;
  const cookies: string[] = [];
  for (const [name, value] of response.headers) {
    if (name === BASE64_MARKER) {
      base64 = true;
      continue;
    }
    if (format === 'v2' && name === 'set-cookie') {
      cookies.push(value);
      continue;
    }
    const values = grouped.get(name);
    if (values) values.push(value);
    else grouped.set(name, [value]);
  }
  base64 ||= !isUtf8(response.body);
  const body = Buffer.from(response.body).toString(base64 ? 'base64' : 'utf8');
  const statusCode = response.status;
  if (format === 'v1' || format === 'alb-multi') {
    const headers: Record<string, string> = {};
    const multiValueHeaders: Record<string, string[]> = {};
    for (const [name, values] of grouped) {
      if (format === 'v1' && values.length === 1) headers[name] = values[0]!;
      else multiValueHeaders[name] = values;
    }
    return format === 'v1'
      ? { statusCode, headers, multiValueHeaders, body, isBase64Encoded: base64 }
      : {
          statusCode,
          statusDescription: describeStatus(statusCode),
          multiValueHeaders,
          body,
          isBase64Encoded: base64,
        };
  }
  const headers: Record<string, string> = {};
  for (const [name, values] of grouped) headers[name] = values.join(', ');
  if (format === 'alb') {
    return {
      statusCode,
      statusDescription: describeStatus(statusCode),
      headers,
      body,
      isBase64Encoded: base64,
    };
  }
  return {
    statusCode,
    headers,
    ...(cookies.length > 0 && { cookies }),
    body,
    isBase64Encoded: base64,
  };
}

/** An ALB's `statusDescription`: `200 OK`. */
function describeStatus(status: number): string {
  const reason = STATUS_CODES[status];
  return reason ? `${status} ${reason}` : String(status);
}
