/**
 * What Lambda hands a function on each invocation, as the runtime builds it:
 * a fresh event object (parsed from JSON for every invocation) and a context
 * whose remaining time counts down to the invocation's deadline.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { PAYMENT_BODY } from '../config.ts';

/** The function's name: Powertools puts it in every key (`AWS_LAMBDA_FUNCTION_NAME`). */
export const FUNCTION_NAME = 'bench-payments';

/** The timeout configured on the function, in milliseconds: the context counts down from it. */
export const FUNCTION_TIMEOUT_MS = 30_000;

/** The plain payload of `makeIdempotent` rows: a payment with its own id as the key. */
export interface PaymentEvent {
  readonly paymentId: string;
  readonly amount: number;
  readonly currency: string;
  readonly description: string;
  /** Storm invocations only: how long the "payment provider call" takes. */
  readonly delayMs?: number;
}

/** The HTTP API body, with the storm's delay when given. */
export function paymentBody(delayMs?: number): string {
  return delayMs === undefined
    ? PAYMENT_BODY
    : `${PAYMENT_BODY.slice(0, -1)},"delayMs":${delayMs}}`;
}

/**
 * `POST /payments` through an API Gateway HTTP API (payload format 2.0), as
 * AWS's sample event has it: lower-cased headers, the request context with
 * its `http` block and epoch time, the body as a string.
 */
export function httpApiEvent(key: string, delayMs?: number): APIGatewayProxyEventV2 {
  const body = paymentBody(delayMs);
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: 'POST /payments',
    rawPath: '/payments',
    rawQueryString: '',
    headers: {
      accept: 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'content-type': 'application/json',
      host: 'r3pmxmplak.execute-api.us-east-1.amazonaws.com',
      'idempotency-key': key,
      'user-agent': 'bench/1.0',
      'x-amzn-trace-id': `Root=1-${now.toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)}`,
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'r3pmxmplak',
      domainName: 'r3pmxmplak.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'r3pmxmplak',
      http: {
        method: 'POST',
        path: '/payments',
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'bench/1.0',
      },
      requestId: randomUUID(),
      routeKey: 'POST /payments',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    body,
    isBase64Encoded: false,
  };
}

/** The plain payload for `makeIdempotent`. */
export function paymentEvent(key: string, delayMs?: number): PaymentEvent {
  return {
    paymentId: key,
    amount: 1999,
    currency: 'eur',
    description: 'bench',
    ...(delayMs === undefined ? {} : { delayMs }),
  };
}

/**
 * The context of one invocation: a request id of its own and a remaining
 * time that runs down from the function's timeout, as the runtime's does.
 */
export function lambdaContext(timeoutMs: number = FUNCTION_TIMEOUT_MS): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION_NAME}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${FUNCTION_NAME}`,
    logStreamName: '2026/12/08/[$LATEST]4a2c5e9d1f3b4c8e9a7d6b5c4e3f2a1b',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
