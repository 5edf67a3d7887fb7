import { readFileSync } from 'node:fs';
import type {
  ALBEvent,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  DynamoDBStreamEvent,
  KinesisStreamEvent,
  SQSEvent,
} from 'aws-lambda';

/**
 * Events as the event sources deliver them, after AWS's sample events (the
 * Lambda developer guide's and the SAM CLI's `sam local generate-event`),
 * typed by `@types/aws-lambda`. HTTP events are a `POST /payments` with an
 * `Idempotency-Key`; batch events carry records whose ids and bodies the
 * tests choose.
 */

/** The HTTP event sources a function can sit behind. */
export type HttpSource = 'rest' | 'http-api' | 'function-url' | 'alb' | 'alb-multi';
/** The batch event sources. */
export type BatchSource = 'sqs' | 'sqs-fifo' | 'kinesis' | 'dynamodb';

export const HTTP_SOURCES: readonly HttpSource[] = [
  'rest',
  'http-api',
  'function-url',
  'alb',
  'alb-multi',
];
export const BATCH_SOURCES: readonly BatchSource[] = ['sqs', 'sqs-fifo', 'kinesis', 'dynamodb'];

const BODY = JSON.stringify({ amount: 1250, currency: 'EUR' });
const TIME = '09/Apr/2026:12:34:56 +0000';

function restEvent(key: string): APIGatewayProxyEvent {
  const headers = {
    Accept: 'application/json',
    'Content-Type': 'application/json',
    Host: '1234567890.execute-api.us-east-1.amazonaws.com',
    'Idempotency-Key': key,
    'User-Agent': 'curl/8.5.0',
    'X-Forwarded-For': '203.0.113.7',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
  };
  return {
    resource: '/payments',
    path: '/payments',
    httpMethod: 'POST',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([n, v]) => [n, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: '1234567890',
      authorizer: null,
      domainName: '1234567890.execute-api.us-east-1.amazonaws.com',
      domainPrefix: '1234567890',
      extendedRequestId: 'LgLpnGHsIAMFzxw=',
      httpMethod: 'POST',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '203.0.113.7',
        user: null,
        userAgent: 'curl/8.5.0',
        userArn: null,
      },
      path: '/prod/payments',
      protocol: 'HTTP/1.1',
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      requestTime: TIME,
      requestTimeEpoch: 1775738096000,
      resourceId: '123456',
      resourcePath: '/payments',
      stage: 'prod',
    },
    body: BODY,
    isBase64Encoded: false,
  };
}

function v2Event(key: string, functionUrl: boolean): APIGatewayProxyEventV2 {
  const domainName = functionUrl
    ? 'abcdefghijklmnopqrstuvwxyz0123456.lambda-url.us-east-1.on.aws'
    : 'r3pmxmplak.execute-api.us-east-1.amazonaws.com';
  return {
    version: '2.0',
    routeKey: functionUrl ? '$default' : 'POST /payments',
    rawPath: '/payments',
    rawQueryString: '',
    headers: {
      accept: 'application/json',
      'content-length': String(BODY.length),
      'content-type': 'application/json',
      host: domainName,
      'idempotency-key': key,
      'user-agent': 'curl/8.5.0',
      'x-amzn-trace-id': 'Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: functionUrl ? 'anonymous' : '123456789012',
      apiId: functionUrl ? 'abcdefghijklmnopqrstuvwxyz0123456' : 'r3pmxmplak',
      domainName,
      domainPrefix: functionUrl ? 'abcdefghijklmnopqrstuvwxyz0123456' : 'r3pmxmplak',
      http: {
        method: 'POST',
        path: '/payments',
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'curl/8.5.0',
      },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey: functionUrl ? '$default' : 'POST /payments',
      stage: '$default',
      time: TIME,
      timeEpoch: 1775738096000,
    },
    body: BODY,
    isBase64Encoded: false,
  };
}

function albEvent(key: string, multi: boolean): ALBEvent {
  const headers = {
    accept: 'application/json',
    'content-type': 'application/json',
    host: 'lambda-alb-123578498.us-east-1.elb.amazonaws.com',
    'idempotency-key': key,
    'user-agent': 'curl/8.5.0',
    'x-amzn-trace-id': 'Root=1-5c536348-3d683b8b04734faae651f476',
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-port': '80',
    'x-forwarded-proto': 'http',
  };
  return {
    requestContext: {
      elb: {
        targetGroupArn:
          'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a',
      },
    },
    httpMethod: 'POST',
    path: '/payments',
    ...(multi
      ? {
          multiValueQueryStringParameters: {},
          multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([n, v]) => [n, [v]])),
        }
      : { queryStringParameters: {}, headers }),
    body: BODY,
    isBase64Encoded: false,
  };
}

/** A `POST /payments` with `Idempotency-Key: key`, as `source` delivers it. */
export function httpEvent(source: HttpSource, key: string): unknown {
  switch (source) {
    case 'rest':
      return restEvent(key);
    case 'http-api':
      return v2Event(key, false);
    case 'function-url':
      return v2Event(key, true);
    case 'alb':
      return albEvent(key, false);
    case 'alb-multi':
      return albEvent(key, true);
  }
}

/** A result as the caller reads it: status, headers (lower-case names) and body text. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Read a function's HTTP result (structured, any of the formats) as the gateway would turn it into a response. */
export function httpAnswer(payload: unknown): HttpAnswer {
  const result = payload as {
    statusCode?: number;
    headers?: Record<string, string>;
    multiValueHeaders?: Record<string, string[]>;
    body?: string;
    isBase64Encoded?: boolean;
  };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = value;
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    headers[name.toLowerCase()] = values.join(', ');
  }
  const body = result.isBase64Encoded
    ? Buffer.from(result.body ?? '', 'base64').toString('utf8')
    : (result.body ?? '');
  return { status: result.statusCode ?? 200, headers, body };
}

const sample = <T>(name: string): T =>
  JSON.parse(
    readFileSync(new URL(`../fixtures/events/batch/${name}.json`, import.meta.url), 'utf8'),
  ) as T;

/**
 * A batch of `ids.length` records from `source`, each record's own id (SQS
 * `messageId`, Kinesis `eventID` and sequence number, DynamoDB Streams
 * `eventID` and `SequenceNumber`) built from its entry in `ids`, in order.
 */
export function batchEvent(source: BatchSource, ids: readonly string[]): unknown {
  switch (source) {
    case 'sqs':
    case 'sqs-fifo': {
      const template = sample<SQSEvent>(source).Records[0]!;
      return {
        Records: ids.map((id, i) => ({
          ...template,
          messageId: id,
          body: JSON.stringify({ id, n: i }),
          attributes: {
            ...template.attributes,
            SequenceNumber: String(18849496460467696128n + BigInt(i)),
          },
        })),
      } satisfies SQSEvent;
    }
    case 'kinesis': {
      const [template] = sample<KinesisStreamEvent>('kinesis').Records;
      return {
        Records: ids.map((id, i) => {
          const sequenceNumber = String(
            49590338271490256608559692538361571095921575989136588898n + BigInt(i),
          );
          return {
            ...template!,
            eventID: `shardId-000000000006:${id}`,
            kinesis: {
              ...template!.kinesis,
              sequenceNumber,
              data: Buffer.from(JSON.stringify({ id, n: i })).toString('base64'),
            },
          };
        }),
      } satisfies KinesisStreamEvent;
    }
    case 'dynamodb': {
      const template = sample<DynamoDBStreamEvent>('dynamodb').Records[0]!;
      return {
        Records: ids.map((id, i) => ({
          ...template,
          eventID: id,
          dynamodb: {
            ...template.dynamodb,
            Keys: { Id: { N: String(i) } },
            NewImage: { Id: { N: String(i) }, Message: { S: id } },
            SequenceNumber: String(111 + i).padStart(21, '0'),
          },
        })),
      } satisfies DynamoDBStreamEvent;
    }
  }
}

/** The id Lambda expects back in `batchItemFailures` for each record of {@link batchEvent}. */
export function itemIdentifiers(event: unknown): string[] {
  type Identified = {
    messageId?: string;
    kinesis?: { sequenceNumber: string };
    dynamodb?: { SequenceNumber?: string };
  };
  return (event as { Records: Identified[] }).Records.map(
    (r) => r.messageId ?? r.kinesis?.sequenceNumber ?? String(r.dynamodb?.SequenceNumber),
  );
}
