import { readFileSync } from 'node:fs';
import { isIdempotencyError } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import type {
  ALBEvent,
  ALBResult,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { formatOf, requestOf } from '../src/http/event.js';
import { claimOf, idempotency, type LambdaHttpEvent } from '../src/index.js';
import { invocationContext } from './http/gateway.js';

const fixture = <E>(name: string): E =>
  JSON.parse(readFileSync(new URL(`./fixtures/events/http/${name}.json`, import.meta.url), 'utf8'));

const context = invocationContext();

/** A POST with this key, in the fixture's own shape. */
function keyed<E extends LambdaHttpEvent>(event: E, key: string): E {
  const e = structuredClone(event) as Record<string, unknown> & {
    headers?: Record<string, string>;
    multiValueHeaders?: Record<string, string[]>;
    requestContext: { http?: { method: string } };
  };
  if (e.requestContext.http) e.requestContext.http.method = 'POST';
  else e.httpMethod = 'POST';
  if (e.headers) e.headers['Idempotency-Key'] = key;
  if (e.multiValueHeaders) e.multiValueHeaders['Idempotency-Key'] = [key];
  return e as unknown as E;
}

describe("AWS's sample events", () => {
  it('tells each format apart, and refuses an event that is not HTTP', () => {
    expect(formatOf(fixture('api-gateway-v1'))).toBe('v1');
    expect(formatOf(fixture('api-gateway-v2'))).toBe('v2');
    expect(formatOf(fixture('function-url'))).toBe('v2');
    expect(formatOf(fixture('alb'))).toBe('alb');
    expect(formatOf(fixture('alb-multi-value'))).toBe('alb-multi');
    let error: unknown;
    try {
      formatOf({ Records: [{ eventSource: 'aws:sqs' }] });
    } catch (e) {
      error = e;
    }
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    expect(String(error)).toMatch(/idempotentBatch/);
  });

  it('reads method, path, query, headers, cookies and route as the gateway sent them', () => {
    const v1 = requestOf(fixture<APIGatewayProxyEvent>('api-gateway-v1'), 'v1', undefined);
    expect([v1.method, v1.path, v1.query, v1.route?.()]).toEqual([
      'GET',
      '/my/path',
      'parameter1=value1&parameter1=value2&parameter2=value',
      '/my/path',
    ]);
    expect(v1.header('HEADER2')).toBe('value1, value2');
    const v2 = requestOf(fixture<APIGatewayProxyEventV2>('api-gateway-v2'), 'v2', 42);
    expect([v2.method, v2.path, v2.query, v2.leaseUntil]).toEqual([
      'POST',
      '/my/path',
      'parameter1=value1&parameter1=value2&parameter2=value',
      42,
    ]);
    expect(v2.header('cookie')).toBe('cookie1; cookie2');
    expect(v2.header('header2')).toBe('value1,value2');
    const alb = requestOf(fixture<ALBEvent>('alb-multi-value'), 'alb-multi', undefined);
    expect(alb.query).toBe('myKey=val1&myKey=val2');
    expect(alb.header('cookie')).toBe('name1=value1, name2=value2');
    expect(new TextDecoder().decode(alb.body(100) as Uint8Array)).toBe('request_body');
    expect(alb.body(5)).toBeUndefined();
  });

  const cases = [
    ['api-gateway-v1', 'payload 1.0'],
    ['api-gateway-v2', 'payload 2.0'],
    ['function-url', 'a Function URL'],
    ['alb', 'an ALB'],
    ['alb-multi-value', 'an ALB with multi-value headers'],
  ] as const;
  for (const [name, what] of cases) {
    it(`runs ${what} once and replays it in the same format`, async () => {
      const idem = idempotency({ store: memoryStore(), scope: () => 'fixtures' });
      let runs = 0;
      const multi = name === 'api-gateway-v1' || name === 'alb-multi-value';
      const handler = idem(async (event: LambdaHttpEvent) => {
        runs++;
        expect(claimOf(event)).toBeDefined();
        return {
          statusCode: 201,
          ...(multi
            ? { multiValueHeaders: { 'X-Run': [String(runs)], 'X-Multi': ['one', 'two'] } }
            : { headers: { 'X-Run': String(runs) } }),
          body: `ran ${runs}`,
          isBase64Encoded: false,
        };
      });
      const event = keyed(fixture<LambdaHttpEvent>(name), `key-${name}`);
      const first = (await handler(event, context)) as APIGatewayProxyResult;
      const replay = (await handler(structuredClone(event), context)) as APIGatewayProxyResult &
        ALBResult;
      expect(runs).toBe(1);
      expect(first.body).toBe('ran 1');
      expect(replay).toMatchObject({ statusCode: 201, body: 'ran 1', isBase64Encoded: false });
      if (name.startsWith('alb')) expect(replay.statusDescription).toBe('201 Created');
      if (name === 'alb') {
        expect(replay.multiValueHeaders).toBeUndefined();
        expect(replay.headers).toEqual({ 'x-run': '1', 'idempotent-replayed': 'true' });
      } else if (name === 'alb-multi-value') {
        expect(replay.headers).toBeUndefined();
        expect(replay.multiValueHeaders).toEqual({
          'x-run': ['1'],
          'x-multi': ['one', 'two'],
          'idempotent-replayed': ['true'],
        });
      } else if (name === 'api-gateway-v1') {
        expect(replay.headers).toEqual({ 'x-run': '1', 'idempotent-replayed': 'true' });
        expect(replay.multiValueHeaders).toEqual({ 'x-multi': ['one', 'two'] });
      } else {
        expect(replay.headers).toEqual({ 'x-run': '1', 'idempotent-replayed': 'true' });
      }
    });
  }

  it('answers two Idempotency-Key lines with 400 where the event keeps each line', async () => {
    const idem = idempotency({ store: memoryStore(), scope: () => 'x' });
    const handler = idem(async () => ({ statusCode: 200, body: '' }));
    const event = keyed(fixture<APIGatewayProxyEvent>('api-gateway-v1'), 'a');
    event.multiValueHeaders['Idempotency-Key'] = ['a', 'b'];
    const answer = (await handler(event, context)) as APIGatewayProxyResult;
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body).type).toBe('urn:idem:problem:key-invalid');
    expect(answer.headers?.['content-type']).toBe('application/problem+json');
  });
});

describe('payload 2.0 results', () => {
  const v2 = (key: string) => keyed(fixture<APIGatewayProxyEventV2>('function-url'), key);

  it('a bare value replays as the 200 JSON answer Lambda made of it', async () => {
    const idem = idempotency({ store: memoryStore(), scope: () => 'x' });
    const values: unknown[] = [{ message: 'Hello, world!' }, 'Hello, world!', [1, 2], 7, null];
    for (const [i, value] of values.entries()) {
      const handler = idem(async () => value);
      expect(await handler(v2(`bare-${i}`), context)).toEqual(value);
      expect(await handler(v2(`bare-${i}`), context)).toEqual({
        statusCode: 200,
        headers: { 'content-type': 'application/json', 'idempotent-replayed': 'true' },
        body: JSON.stringify(value),
        isBase64Encoded: false,
      });
    }
  });

  it('cookies replay byte for byte with replaySetCookie, and a problem is a structured result', async () => {
    const idem = idempotency({ store: memoryStore(), scope: () => 'x', replaySetCookie: true });
    const cookies = ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/', 'b=2; HttpOnly'];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const handler = idem(async (): Promise<APIGatewayProxyStructuredResultV2> => {
      await held;
      return { statusCode: 200, cookies, body: 'ok' };
    });
    const first = handler(v2('cookies'), context);
    const conflict = (await handler(v2('cookies'), context)) as APIGatewayProxyStructuredResultV2;
    expect(conflict.statusCode).toBe(409);
    expect(conflict.headers?.['retry-after']).toMatch(/^\d+$/);
    release();
    await first;
    const replay = (await handler(v2('cookies'), context)) as APIGatewayProxyStructuredResultV2;
    expect(replay.cookies).toEqual(cookies);
  });

  it('a binary body replays base64, and so does a text body the handler sent base64', async () => {
    const idem = idempotency({ store: memoryStore(), scope: () => 'x' });
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80]).toString('base64');
    const text = Buffer.from('plain text').toString('base64');
    for (const body of [binary, text]) {
      const handler = idem(async () => ({ statusCode: 200, body, isBase64Encoded: true }));
      await handler(v2(body), context);
      expect(await handler(v2(body), context)).toMatchObject({ body, isBase64Encoded: true });
    }
  });

  it('a result the gateway would refuse releases the key and throws a ConfigurationError', async () => {
    const idem = idempotency({ store: memoryStore(), scope: () => 'x' });
    let runs = 0;
    const handler = idem(async () => {
      runs++;
      return 'not a REST result';
    });
    const event = keyed(fixture<APIGatewayProxyEvent>('api-gateway-v1'), 'refused');
    for (let i = 0; i < 2; i++) {
      await expect(handler(event, context)).rejects.toMatchObject({ code: 'CONFIGURATION' });
    }
    expect(runs).toBe(2);
  });
});

describe('the lease of an HTTP invocation', () => {
  it("ends at the invocation's deadline plus leaseMarginMs: the next delivery takes over then", async () => {
    const store = memoryStore();
    const options = { store, scope: () => 'lease', leaseMs: 10_000, leaseMarginMs: 100 };
    // Two engines on one store: the invocation that times out, and the next one.
    const hung = idempotency(options)(() => new Promise<never>(() => {}));
    const next = idempotency(options)(async () => ({ statusCode: 201, body: 'taken over' }));
    const event = keyed(fixture<APIGatewayProxyEventV2>('function-url'), 'lease');
    const started = Date.now();
    void hung(structuredClone(event), invocationContext(200)).catch(() => {});
    await new Promise((r) => setTimeout(r, 80));
    expect(await next(structuredClone(event), context)).toMatchObject({ statusCode: 409 });
    await new Promise((r) => setTimeout(r, 450 - (Date.now() - started)));
    expect(await next(structuredClone(event), context)).toMatchObject({
      statusCode: 201,
      body: 'taken over',
    });
  });
});
