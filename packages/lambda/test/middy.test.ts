import { readFileSync } from 'node:fs';
import { isIdempotencyError } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { claimOf } from '../src/index.js';
import { idempotencyMiddleware } from '../src/middy.js';
import { invocationContext } from './http/gateway.js';

type Result = APIGatewayProxyStructuredResultV2;

const sample: APIGatewayProxyEventV2 = JSON.parse(
  readFileSync(new URL('./fixtures/events/http/api-gateway-v2.json', import.meta.url), 'utf8'),
);

/** The sample event as a JSON POST with this key (none when `undefined`). */
function post(key: string | undefined, body: unknown): APIGatewayProxyEventV2 {
  const event = structuredClone(sample);
  event.headers['content-type'] = 'application/json';
  if (key !== undefined) event.headers['idempotency-key'] = key;
  event.body = JSON.stringify(body);
  return event;
}

/** A Middy handler with idem first, the JSON body parser after it, and an after middleware shaping the answer. */
function chain(handler: (event: APIGatewayProxyEventV2 & { body: unknown }) => Promise<Result>) {
  return middy(handler)
    .use(
      idempotencyMiddleware<APIGatewayProxyEventV2>({ store: memoryStore(), scope: () => 'middy' }),
    )
    .use(httpJsonBodyParser())
    .use({
      after: async (request) => {
        request.response = {
          ...request.response,
          headers: { ...request.response?.headers, 'x-shaped': 'yes' },
        };
      },
    });
}

const context = invocationContext();

describe('idempotencyMiddleware with real Middy', () => {
  it('runs the handler once with the parsed body; a retry is an early response of the shaped answer', async () => {
    let runs = 0;
    const handler = chain(async (event) => {
      runs++;
      expect(claimOf(event)).toBeDefined();
      return { statusCode: 201, body: JSON.stringify({ got: event.body, run: runs }) };
    });
    const first = await handler(post('m-1', { amount: 5 }), context);
    expect(first).toMatchObject({ statusCode: 201, headers: { 'x-shaped': 'yes' } });
    expect(JSON.parse(first.body as string)).toEqual({ got: { amount: 5 }, run: 1 });
    // The stored answer is the one the after middleware shaped: idem's after runs last.
    const replay = await handler(post('m-1', { amount: 5 }), context);
    expect(replay).toEqual({
      statusCode: 201,
      headers: { 'x-shaped': 'yes', 'idempotent-replayed': 'true' },
      body: first.body,
      isBase64Encoded: false,
    });
    const mismatch = await handler(post('m-1', { amount: 6 }), context);
    expect(mismatch).toMatchObject({ statusCode: 422 });
    expect(JSON.parse(mismatch.body as string).type).toBe('urn:idem:problem:fingerprint-mismatch');
    expect(runs).toBe(1);
  });

  it('answers a missing key and a duplicate in flight early, in the event format, without the handler', async () => {
    let runs = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const handler = chain(async () => {
      runs++;
      await held;
      return { statusCode: 200, body: 'ok' };
    });
    const missing = await handler(post(undefined, {}), context);
    expect(missing).toMatchObject({
      statusCode: 400,
      headers: { 'content-type': 'application/problem+json' },
    });
    const first = handler(post('m-2', {}), context);
    await new Promise((r) => setTimeout(r, 20));
    const duplicate = await handler(post('m-2', {}), context);
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.headers?.['retry-after']).toMatch(/^\d+$/);
    release();
    await first;
    expect(runs).toBe(1);
  });

  it('a thrown error goes through onError, releasing the key: the retry runs again', async () => {
    let runs = 0;
    const handler = chain(async () => {
      if (++runs === 1) throw new Error('boom');
      return { statusCode: 200, body: 'second' };
    });
    await expect(handler(post('m-3', {}), context)).rejects.toThrow('boom');
    expect(await handler(post('m-3', {}), context)).toMatchObject({ body: 'second' });
    expect(runs).toBe(2);
  });

  it("Middy's early timeout keeps the key: a retry before the deadline plus the margin is 409, after it takes over", async () => {
    const store = memoryStore();
    let runs = 0;
    const handler = middy(async () => {
      runs++;
      await new Promise(() => {}); // still running when Middy answers the timeout
      return { statusCode: 200 };
    }).use(
      idempotencyMiddleware<APIGatewayProxyEventV2>({
        store,
        leaseMarginMs: 300,
        scope: () => 't',
      }),
    );
    const timedOut = invocationContext(200);
    await expect(handler(post('m-5', {}), timedOut)).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    const retry = middy(async () => {
      runs++;
      return { statusCode: 200, body: 'retry' };
    }).use(idempotencyMiddleware<APIGatewayProxyEventV2>({ store, scope: () => 't' }));
    // Right after Middy's answer, the hung run still holds the key: no second run beside it.
    expect(await retry(post('m-5', {}), context)).toMatchObject({ statusCode: 409 });
    expect(runs).toBe(1);
    // Past the invocation's deadline plus leaseMarginMs, the lease is over: the retry takes over.
    await new Promise((r) => setTimeout(r, 400));
    expect(await retry(post('m-5', {}), context)).toMatchObject({ body: 'retry' });
    expect(runs).toBe(2);
  });

  it('refuses to run after a body parser: it would fingerprint a parsed body, not the bytes sent', async () => {
    let runs = 0;
    const handler = middy(async () => ({ statusCode: 200, body: String(++runs) }))
      .use(httpJsonBodyParser())
      .use(idempotencyMiddleware({ store: memoryStore(), scope: () => 'middy' }));
    const error = await handler(post('m-4', { a: 1 }), context).catch((e: unknown) => e);
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    expect(String(error)).toMatch(/idempotencyMiddleware\(\) before the parsers/);
    expect(runs).toBe(0);
  });
});
