import { fcParameters } from '@idem/conformance';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  createIdempotentFetch,
  type IdempotentFetch,
  idempotencyInfo,
  idempotentFetch,
} from '../src/index.js';
import { type ScriptServer, scriptServer } from './script-server.js';

/**
 * What the client sends: keys, headers, methods and bodies, against a real
 * HTTP server that fails the first attempts of every call (`?fail=n`): the
 * first n requests of each key are dropped without an answer, so every body
 * below is sent at least twice.
 */

let server: ScriptServer;
const seen = new Map<string, number>();
beforeAll(async () => {
  server = await scriptServer((request) => {
    const fail = Number(new URL(request.url, 'http://x').searchParams.get('fail') ?? 0);
    const key = String(request.headers['idempotency-key'] ?? request.headers['x-request-id']);
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    return n < fail ? { destroy: true } : { status: 201, body: 'done' };
  });
});
afterAll(() => server.close());

const fast = createIdempotentFetch({ baseDelayMs: 1, maxDelayMs: 5 });
const since = (from: number) => server.received.slice(from);

async function call(fetch: IdempotentFetch, path: string, init?: Parameters<IdempotentFetch>[1]) {
  const from = server.received.length;
  const response = await fetch(`${server.url}${path}`, init);
  await response.arrayBuffer();
  return { response, info: idempotencyInfo(response), requests: since(from) };
}

/** Every option name createIdempotentFetch takes. */
const INSTANCE_NAMES: readonly string[] = [
  'fetch',
  'methods',
  'header',
  'generateKey',
  'maxBodyBytes',
  'bufferResponses',
  'maxAttempts',
  'attemptTimeoutMs',
  'deadlineMs',
  'baseDelayMs',
  'maxDelayMs',
  'maxRetryAfterMs',
  'retryStatuses',
  'onRetry',
];

describe('fetch’s signature', () => {
  it('is a drop-in for fetch', () => {
    expectTypeOf(idempotentFetch).toExtend<typeof fetch>();
    const asFetch: typeof fetch = createIdempotentFetch();
    expect(typeof asFetch).toBe('function');
  });
});

describe('keys', () => {
  it('mints a new key per call and keeps it across the call’s retries', async () => {
    const a = await call(fast, '/?fail=2', { method: 'POST', body: 'a' });
    const b = await call(fast, '/?fail=1', { method: 'POST', body: 'a' });
    expect(a.requests.map((r) => r.headers['idempotency-key'])).toEqual(Array(3).fill(a.info!.key));
    expect(b.requests.map((r) => r.headers['idempotency-key'])).toEqual(Array(2).fill(b.info!.key));
    expect(a.info!.key).not.toBe(b.info!.key);
  });

  it('sends the caller’s own key, from the header or from idempotency.key, on every attempt', async () => {
    const viaHeader = await call(fast, '/?fail=1', {
      method: 'POST',
      headers: { 'Idempotency-Key': 'order-17' },
    });
    expect(viaHeader.info).toMatchObject({ key: 'order-17', attempts: 2 });
    expect(viaHeader.requests.map((r) => r.headers['idempotency-key'])).toEqual([
      'order-17',
      'order-17',
    ]);
    const viaOption = await call(fast, '/?fail=1', {
      method: 'POST',
      idempotency: { key: 'cart 18' },
    });
    expect(viaOption.info).toMatchObject({ key: 'cart 18', attempts: 2 });
    // A key with a space goes out as an RFC 8941 string, which idem servers unquote.
    expect(viaOption.requests.map((r) => r.headers['idempotency-key'])).toEqual([
      '"cart 18"',
      '"cart 18"',
    ]);
  });

  it('refuses an invalid or doubled key before sending anything', async () => {
    const from = server.received.length;
    for (const init of [
      { method: 'POST', idempotency: { key: '' } },
      { method: 'POST', idempotency: { key: 'ключ' } },
      { method: 'POST', idempotency: { key: 'k'.repeat(256) } },
      { method: 'POST', headers: { 'idempotency-key': 'a' }, idempotency: { key: 'b' } },
    ]) {
      await expect(fast(server.url, init)).rejects.toMatchObject({ code: 'KEY_INVALID' });
    }
    expect(since(from)).toEqual([]);
  });

  it('uses the configured header name', async () => {
    const fetch = createIdempotentFetch({ header: 'X-Request-Id', baseDelayMs: 1 });
    const { info, requests } = await call(fetch, '/?fail=1', { method: 'POST' });
    expect(requests.map((r) => r.headers['x-request-id'])).toEqual([info!.key, info!.key]);
    expect(requests[0]!.headers['idempotency-key']).toBeUndefined();
  });
});

describe('methods', () => {
  it('passes methods it does not cover to fetch untouched: no key, one attempt', async () => {
    const s = await scriptServer(() => ({ status: 503 }));
    try {
      for (const method of ['GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
        const response = await fast(s.url, { method });
        expect(response.status).toBe(503);
        expect(idempotencyInfo(response)).toBeUndefined();
      }
      expect(s.received.map((r) => [r.method, r.headers['idempotency-key']])).toEqual(
        ['GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => [m, undefined]),
      );
    } finally {
      await s.close();
    }
  });

  it('covers POST and PATCH in any case, the methods option, and one call that asks', async () => {
    expect((await call(fast, '/?fail=1', { method: 'post' })).info?.attempts).toBe(2);
    expect((await call(fast, '/?fail=1', { method: 'PATCH' })).info?.attempts).toBe(2);
    const puts = createIdempotentFetch({ methods: ['put'], baseDelayMs: 1 });
    expect((await call(puts, '/?fail=1', { method: 'PUT' })).info?.attempts).toBe(2);
    expect((await call(puts, '/', { method: 'POST' })).info).toBeUndefined();
    const once = await call(fast, '/?fail=1', { method: 'DELETE', idempotency: {} });
    expect(once.info?.attempts).toBe(2);
  });

  it('takes per-call retry options over the instance’s', async () => {
    const error = await fast(`${server.url}/?fail=9`, {
      method: 'POST',
      idempotency: { maxAttempts: 2 },
    }).catch((e) => e);
    expect(error).toMatchObject({ code: 'ATTEMPTS_EXHAUSTED', attempts: 2 });
  });
});

/** A body of each kind fetch accepts, built from the same bytes. */
type Kind =
  | 'string'
  | 'bytes'
  | 'buffer'
  | 'view'
  | 'blob'
  | 'params'
  | 'form'
  | 'stream'
  | 'request';
const KINDS: readonly Kind[] = [
  'string',
  'bytes',
  'buffer',
  'view',
  'blob',
  'params',
  'form',
  'stream',
  'request',
];

function bodyOf(kind: Kind, bytes: Uint8Array<ArrayBuffer>, text: string, chunks: number) {
  switch (kind) {
    case 'string':
      return { body: text };
    case 'bytes':
      return { body: bytes };
    case 'buffer':
      return { body: bytes.slice().buffer };
    case 'view':
      return { body: new DataView(bytes.slice().buffer) };
    case 'blob':
      return { body: new Blob([bytes], { type: 'application/x-test' }) };
    case 'params':
      return { body: new URLSearchParams({ text, n: String(chunks) }) };
    case 'form': {
      const form = new FormData();
      form.append('text', text);
      form.append('file', new Blob([bytes]), 'f.bin');
      return { body: form };
    }
    case 'stream':
    case 'request': {
      const size = Math.ceil(bytes.byteLength / chunks) || 1;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < bytes.byteLength; at += size)
            controller.enqueue(bytes.slice(at, at + size));
          controller.close();
        },
      });
      return { body, duplex: 'half' as const };
    }
  }
}

describe('bodies', () => {
  it('resends every kind of body byte for byte, with its content type, on every attempt', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...KINDS),
        fc.uint8Array({ maxLength: 3000 }),
        fc.string({ maxLength: 200, unit: 'grapheme' }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        async (kind, raw, text, chunks, fail) => {
          const bytes = new Uint8Array(raw);
          const init = { method: 'POST', ...bodyOf(kind, bytes, text, chunks) };
          const url = `${server.url}/?fail=${fail}`;
          const from = server.received.length;
          const response = await (kind === 'request'
            ? fast(new Request(url, init))
            : fast(url, init));
          await response.arrayBuffer();
          const requests = since(from);
          const info = idempotencyInfo(response);
          expect(info?.attempts).toBe(fail + 1);
          const first = requests[0]!;
          for (const r of requests) {
            expect(r.body.equals(first.body)).toBe(true);
            expect(r.headers['content-type']).toBe(first.headers['content-type']);
            expect(r.headers['idempotency-key']).toBe(info!.key);
          }
          // And it is the body fetch itself would have sent.
          const expected = await new Request('http://x', {
            method: 'POST',
            ...bodyOf(kind, bytes, text, chunks),
          })
            .arrayBuffer()
            .then((b) => Buffer.from(b));
          if (kind !== 'form') expect(first.body.equals(expected)).toBe(true);
          else expect(first.body.length).toBe(expected.length); // only the boundary differs
        },
      ),
      fcParameters(60),
    );
  }, 60_000);

  it('fails with BODY_TOO_LARGE before sending a body over maxBodyBytes', async () => {
    const fetch = createIdempotentFetch({ maxBodyBytes: 1000 });
    const from = server.received.length;
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(512)),
    });
    await expect(
      fetch(server.url, { method: 'POST', body: endless, duplex: 'half' } as RequestInit),
    ).rejects.toMatchObject({ code: 'BODY_TOO_LARGE', key: expect.any(String), attempts: 0 });
    await expect(
      fetch(server.url, { method: 'POST', body: 'x'.repeat(1001) }),
    ).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
    expect(
      (await call(fetch, '/', { method: 'POST', body: 'x'.repeat(1000) })).info?.attempts,
    ).toBe(1);
    expect(since(from)).toHaveLength(1);
  });

  it('fails with BODY_UNREADABLE before sending a stream that errors', async () => {
    const from = server.received.length;
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1, 2, 3]));
        controller.error(new Error('disk gone'));
      },
    });
    const error = await fast(server.url, {
      method: 'POST',
      body: broken,
      duplex: 'half',
    } as RequestInit).catch((e) => e);
    expect(error).toMatchObject({ code: 'BODY_UNREADABLE', cause: { message: 'disk gone' } });
    expect(since(from)).toEqual([]);
  });

  it('keeps a Request input’s headers and settings', async () => {
    const request = new Request(`${server.url}/?fail=1`, {
      method: 'POST',
      headers: { 'x-trace': 't-1', 'content-type': 'application/json' },
      body: '{"a":1}',
      redirect: 'error',
    });
    const from = server.received.length;
    const response = await fast(request);
    await response.arrayBuffer();
    const info = idempotencyInfo(response);
    const requests = since(from);
    expect(info?.attempts).toBe(2);
    expect(requests.map((r) => [r.headers['x-trace'], r.body.toString()])).toEqual([
      ['t-1', '{"a":1}'],
      ['t-1', '{"a":1}'],
    ]);
  });
});

describe('responses', () => {
  it('idempotencyInfo is undefined for responses the client did not make, and for clones', async () => {
    const response = await fast(server.url, { method: 'POST' });
    expect(idempotencyInfo(response)).toBeDefined();
    expect(idempotencyInfo(response.clone())).toBeUndefined();
    expect(idempotencyInfo(await fetch(server.url, { method: 'POST' }))).toBeUndefined();
  });
});

describe('configuration', () => {
  it.each([
    [
      { maxAttempts: 0 },
      'option "maxAttempts" must be a whole number of attempts, 1 or more, got 0',
    ],
    [{ maxAttempts: 1.5 }, 'maxAttempts'],
    [{ attemptTimeoutMs: 0 }, 'attemptTimeoutMs'],
    [{ deadlineMs: -1 }, 'deadlineMs'],
    [{ deadlineMs: 2 ** 31 }, 'or Infinity: no limit'],
    [{ baseDelayMs: Number.NaN }, 'baseDelayMs'],
    [{ maxBodyBytes: 0 }, 'maxBodyBytes'],
    [{ retryStatuses: [503, 700] }, 'retryStatuses'],
    [{ methods: 'POST' }, 'option "methods" must be an array of method names'],
    [{ methods: ['PO ST'] }, 'methods'],
    [{ header: 'Idempotency Key' }, 'option "header" must be a header name'],
    [{ fetch: 'fetch' }, 'option "fetch" must be a function, got "fetch"'],
    [{ onRetry: 1 }, 'option "onRetry" must be a function, got 1'],
    [{ bufferResponses: 'yes' }, 'option "bufferResponses" must be true or false'],
  ])('refuses %j at construction, naming the fix', (options, message) => {
    expect(() => createIdempotentFetch(options as never)).toThrow(
      expect.objectContaining({ code: 'CONFIGURATION', message: expect.stringContaining(message) }),
    );
  });

  it.each([
    [{ timeoutMs: 1500 }, '"timeoutMs"', 'attemptTimeoutMs'],
    [{ timeout: 1500 }, '"timeout"', 'attemptTimeoutMs'],
    [{ maxAttempt: 3 }, '"maxAttempt"', 'maxAttempts'],
    [{ retryStatus: [503] }, '"retryStatus"', 'retryStatuses'],
    [{ headers: 'X-Key' }, '"headers"', 'header'],
    [{ deadline: 5000 }, '"deadline"', 'deadlineMs'],
    [{ maxbodybytes: 10 }, '"maxbodybytes"', 'maxBodyBytes'],
  ])('refuses the unknown option %j, naming the closest known one', (options, name, closest) => {
    expect(() => createIdempotentFetch(options as never)).toThrow(
      expect.objectContaining({
        name: 'IdempotentFetchError',
        code: 'CONFIGURATION',
        message: expect.stringContaining(`unknown option ${name} (did you mean "${closest}"?)`),
      }),
    );
  });

  it('a slip on any option name (a letter doubled, or in the wrong case) names that option', () => {
    const names = [...INSTANCE_NAMES];
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.nat(), fc.boolean(), (name, at, doubled) => {
        const i = at % name.length;
        const c = name[i]!;
        const slipped = doubled
          ? name.slice(0, i) + c + name.slice(i)
          : name.slice(0, i) +
            (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) +
            name.slice(i + 1);
        if (slipped === name) return;
        expect(() => createIdempotentFetch({ [slipped]: 1 } as never)).toThrow(
          expect.objectContaining({
            code: 'CONFIGURATION',
            message: expect.stringContaining(
              `unknown option ${JSON.stringify(slipped)} (did you mean ${JSON.stringify(name)}?)`,
            ),
          }),
        );
      }),
      fcParameters(300),
    );
  });

  it('refuses any option name it does not know, and lists the options', () => {
    const known = new Set(INSTANCE_NAMES);
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }).filter((name) => !known.has(name)),
        fc.constantFrom<unknown>(1, 'x', undefined, null, {}),
        (name, value) => {
          const options = Object.defineProperty({}, name, { value, enumerable: true });
          expect(() => createIdempotentFetch(options)).toThrow(
            expect.objectContaining({
              code: 'CONFIGURATION',
              message: expect.stringMatching(
                /; the options are maxAttempts, .*, fetch, onRetry\.$/,
              ),
            }),
          );
        },
      ),
      fcParameters(200),
    );
  });

  it('refuses unknown per-call options, and instance-wide ones given per call, before sending', async () => {
    const from = server.received.length;
    await expect(
      fast(server.url, { method: 'POST', idempotency: { timeoutMs: 1 } as never }),
    ).rejects.toMatchObject({
      code: 'CONFIGURATION',
      message: expect.stringContaining(
        'unknown option "timeoutMs" (did you mean "attemptTimeoutMs"?)',
      ),
    });
    await expect(
      fast(server.url, { method: 'POST', idempotency: { kye: 'a' } as never }),
    ).rejects.toMatchObject({ message: expect.stringContaining('did you mean "key"?') });
    await expect(
      fast(server.url, { method: 'POST', idempotency: { header: 'X-Key' } as never }),
    ).rejects.toMatchObject({
      code: 'CONFIGURATION',
      message: expect.stringContaining('"header"; the options are key, maxAttempts,'),
    });
    await expect(
      fast(server.url, { method: 'POST', idempotency: 'k' as never }),
    ).rejects.toMatchObject({ code: 'CONFIGURATION' });
    expect(since(from)).toEqual([]);
  });

  it('accepts Infinity for no timeout or deadline, and undefined for a default', async () => {
    const fetch = createIdempotentFetch({
      attemptTimeoutMs: Infinity,
      deadlineMs: Infinity,
      maxAttempts: undefined,
    });
    expect((await call(fetch, '/?fail=1', { method: 'POST' })).info?.attempts).toBe(2);
  });

  it('refuses bad per-call options before sending', async () => {
    const from = server.received.length;
    await expect(
      fast(server.url, { method: 'POST', idempotency: { maxAttempts: -1 } }),
    ).rejects.toMatchObject({ code: 'CONFIGURATION' });
    expect(since(from)).toEqual([]);
  });
});
