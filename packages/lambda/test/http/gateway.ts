import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';

/**
 * What stands in front of the function: API Gateway with payload 1.0 (REST
 * APIs), payload 2.0 (HTTP APIs and Function URLs), or an ALB target group
 * with multi-value headers on.
 */
export type GatewayFormat = 'v1' | 'v2' | 'alb-multi';

/** Content types the gateway passes as text; everything else arrives base64, as binary media types. */
const TEXTUAL =
  /^\s*(?:text\/|application\/(?:[\w.+-]*\+)?(?:json|xml)|application\/x-www-form-urlencoded)/i;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The body as the gateway hands it over: `null` when empty, text, or base64 for binary. */
function eventBody(bytes: Buffer, contentType: string | undefined) {
  if (bytes.byteLength === 0) return { body: null, isBase64Encoded: false };
  if (contentType && TEXTUAL.test(contentType)) {
    try {
      return { body: decoder.decode(bytes), isBase64Encoded: false };
    } catch {
      // Not UTF-8 after all: sent on as binary.
    }
  }
  return { body: bytes.toString('base64'), isBase64Encoded: true };
}

/** The request's header lines: `[name as sent, value]`. */
function lines(req: IncomingMessage): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    pairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  }
  return pairs;
}

function group(pairs: Array<[string, string]>, lower: boolean): Record<string, string[]> {
  const grouped: Record<string, string[]> = {};
  for (const [raw, value] of pairs) {
    const name = lower ? raw.toLowerCase() : raw;
    grouped[name] = [...(grouped[name] ?? []), value];
  }
  return grouped;
}

/** Query parameters by name, decoded by API Gateway REST, left encoded by an ALB. */
function queryPairs(raw: string, decode: boolean): Array<[string, string]> {
  if (raw === '') return [];
  return raw.split('&').map((part) => {
    const eq = part.indexOf('=');
    const [name, value] = eq === -1 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    return decode ? [decodeURIComponent(name), decodeURIComponent(value)] : [name, value];
  });
}

const last = (grouped: Record<string, string[]>) =>
  Object.fromEntries(Object.entries(grouped).map(([n, v]) => [n, v[v.length - 1]!]));

/** The event the gateway would send for this request. */
export function toEvent(
  format: GatewayFormat,
  req: IncomingMessage,
  bytes: Buffer,
): APIGatewayProxyEvent | APIGatewayProxyEventV2 | ALBEvent {
  const url = new URL(req.url ?? '/', 'http://gateway');
  const rawQuery = url.search.slice(1);
  const method = req.method ?? 'GET';
  const pairs = lines(req);
  const contentType = req.headers['content-type'];
  const { body, isBase64Encoded } = eventBody(bytes, contentType);
  if (format === 'v2') {
    const headers: Record<string, string> = {};
    const cookies: string[] = [];
    for (const [name, values] of Object.entries(group(pairs, true))) {
      // Payload 2.0 moves cookies to their own list and joins repeated headers with commas.
      if (name === 'cookie') cookies.push(...values.flatMap((v) => v.split(/;\s*/)));
      else headers[name] = values.join(',');
    }
    const query = group(queryPairs(rawQuery, true), false);
    return {
      version: '2.0',
      routeKey: '$default',
      rawPath: url.pathname,
      rawQueryString: rawQuery,
      ...(cookies.length > 0 && { cookies }),
      headers,
      ...(rawQuery && {
        queryStringParameters: Object.fromEntries(
          Object.entries(query).map(([n, v]) => [n, v.join(',')]),
        ),
      }),
      requestContext: {
        accountId: '123456789012',
        apiId: 'bridge',
        domainName: 'bridge.lambda-url.us-east-1.on.aws',
        domainPrefix: 'bridge',
        http: {
          method,
          path: url.pathname,
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: req.headers['user-agent'] ?? '',
        },
        requestId: crypto.randomUUID(),
        routeKey: '$default',
        stage: '$default',
        time: new Date().toUTCString(),
        timeEpoch: Date.now(),
      },
      ...(body !== null && { body }),
      isBase64Encoded,
    };
  }
  if (format === 'alb-multi') {
    const query = group(queryPairs(rawQuery, false), false);
    return {
      requestContext: {
        elb: {
          targetGroupArn:
            'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/bridge/6d0ecf831eec9f09',
        },
      },
      httpMethod: method,
      path: url.pathname,
      multiValueQueryStringParameters: query,
      multiValueHeaders: group(pairs, true),
      body: body ?? '',
      isBase64Encoded,
    };
  }
  const multiQuery = group(queryPairs(rawQuery, true), false);
  const multiValueHeaders = group(pairs, false);
  return {
    resource: '/{proxy+}',
    path: url.pathname,
    httpMethod: method,
    headers: last(multiValueHeaders),
    multiValueHeaders,
    queryStringParameters: rawQuery ? last(multiQuery) : null,
    multiValueQueryStringParameters: rawQuery ? multiQuery : null,
    pathParameters: { proxy: url.pathname.slice(1) },
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'bridge',
      httpMethod: method,
      path: `/test${url.pathname}`,
      protocol: 'HTTP/1.1',
      requestId: crypto.randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'bridge',
      resourcePath: '/{proxy+}',
      stage: 'test',
      authorizer: null,
      identity: { sourceIp: '127.0.0.1' },
    } as APIGatewayProxyEvent['requestContext'],
    body,
    isBase64Encoded,
  };
}

type Result = {
  statusCode?: number;
  headers?: Record<string, string | number | boolean>;
  multiValueHeaders?: Record<string, Array<string | number | boolean>>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
};

/** An HTTP answer as the client receives it: status, header lines by lower-case name, body bytes. */
export interface Wire {
  readonly status: number;
  readonly headers: Record<string, string[]>;
  readonly body: Buffer;
}

/**
 * A function's result as the gateway sends it: payload 1.0 merges `headers`
 * into `multiValueHeaders` (a pair in both goes out once), payload 2.0 turns
 * a result without `statusCode` into a 200 JSON answer and cookies into
 * `set-cookie` lines, an ALB with multi-value headers reads only those.
 */
export function wireOf(format: GatewayFormat, raw: unknown): Wire {
  const structured =
    typeof raw === 'object' && raw !== null && !Array.isArray(raw) && 'statusCode' in raw;
  const result: Result =
    format === 'v2' && !structured
      ? {
          statusCode: 200,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(raw ?? null),
        }
      : (raw as Result);
  const headers: Record<string, string[]> = {};
  const addLine = (name: string, value: unknown) => {
    const lower = name.toLowerCase();
    headers[lower] = [...(headers[lower] ?? []), String(value)];
  };
  const multi = new Set<string>();
  if (format !== 'v2') {
    for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
      for (const value of values) {
        addLine(name, value);
        multi.add(`${name.toLowerCase()}:${value}`);
      }
    }
  }
  if (format !== 'alb-multi') {
    for (const [name, value] of Object.entries(result.headers ?? {})) {
      if (!multi.has(`${name.toLowerCase()}:${value}`)) addLine(name, value);
    }
  }
  if (format === 'v2') for (const cookie of result.cookies ?? []) addLine('set-cookie', cookie);
  const status = result.statusCode ?? 502;
  const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  return { status, headers, body: status === 204 || status === 304 ? Buffer.alloc(0) : body };
}

/** Write a function's result to the client as the gateway would (see {@link wireOf}). */
export function writeResult(format: GatewayFormat, raw: unknown, res: ServerResponse): void {
  const { status, headers, body } = wireOf(format, raw);
  for (const [name, values] of Object.entries(headers)) res.setHeader(name, values);
  res.writeHead(status);
  res.end(status === 204 || status === 304 ? undefined : body);
}

/** A Lambda context whose invocation has `timeoutMs` left from now. */
export function invocationContext(timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'bridge',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bridge',
    memoryLimitInMB: '128',
    awsRequestId: crypto.randomUUID(),
    logGroupName: '/aws/lambda/bridge',
    logStreamName: 'bridge',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
