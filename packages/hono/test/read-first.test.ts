import { isIdempotencyError } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { validator } from 'hono/validator';
import { describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

/**
 * Bodies a middleware read before idem, through `app.request()` as every
 * Hono test sends them: without `Content-Length` unless it is set by hand.
 * idem reads them from Hono's body cache on `c.req`, never from the spent
 * stream (which answered 500, `ReadableStream is locked`, before).
 */

const encoder = new TextEncoder();

type Body = string | Uint8Array | FormData;

/** `app.request()` with a key; `declared` sets `Content-Length`, otherwise the body is a stream. */
function send(app: Hono, key: string, body: Body, type: string | undefined, declared: boolean) {
  const headers: Record<string, string> = { 'idempotency-key': key };
  if (type) headers['content-type'] = type;
  if (body instanceof FormData) {
    // A FormData is encoded anew, with a new multipart boundary, by every request.
    return app.request('/', { method: 'POST', headers, body });
  }
  const bytes = typeof body === 'string' ? encoder.encode(body) : body;
  if (declared) headers['content-length'] = String(bytes.byteLength);
  return app.request('/', {
    method: 'POST',
    headers,
    body: declared ? bytes : new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(),
    duplex: 'half',
  } as RequestInit);
}

/** An app whose `reader` runs before idem, and a handler that reads the body again. */
function appWith(reader: MiddlewareHandler, read: (c: Context) => Promise<unknown>) {
  const app = new Hono();
  const errors: unknown[] = [];
  let runs = 0;
  app.onError((error, c) => {
    errors.push(error);
    return c.text('Internal Server Error', 500);
  });
  app.post(
    '/',
    reader,
    idempotency({ store: memoryStore(), scope: () => 't', maxRequestBytes: 1000 }),
    async (c) => c.json({ run: ++runs, body: await read(c) }),
  );
  return { app, errors, runs: () => runs };
}

/** A middleware that reads the body with `read` and goes on. */
const readsFirst =
  (read: (c: Context) => Promise<unknown>): MiddlewareHandler =>
  async (c, next) => {
    await read(c);
    await next();
  };

const readers: Array<{
  readonly what: string;
  readonly reader: MiddlewareHandler;
  readonly read: (c: Context) => Promise<unknown>;
  readonly type: string;
  readonly body: Body;
  readonly same?: Body;
  readonly other: Body;
}> = [
  {
    what: "a signature check's c.req.text()",
    reader: async (c, next) => {
      if ((await c.req.text()).length === 0) return c.text('unsigned', 401);
      await next();
    },
    read: (c) => c.req.json(),
    type: 'application/json',
    body: '{"id":"evt_1","amount":5}',
    same: '{ "amount": 5, "id": "evt_1" }',
    other: '{"id":"evt_1","amount":6}',
  },
  {
    what: "validator('json')",
    reader: validator('json', (value) => value),
    read: (c) => c.req.json(),
    type: 'application/json',
    body: '{"amount":5,"note":"é"}',
    same: '{"note":"\\u00e9","amount":5}',
    other: '{"amount":5,"note":"e"}',
  },
  {
    what: 'c.req.arrayBuffer()',
    reader: readsFirst((c) => c.req.arrayBuffer()),
    read: async (c) => [...new Uint8Array(await c.req.arrayBuffer())],
    type: 'application/octet-stream',
    body: new Uint8Array([0, 255, 128, 10, 13]),
    other: new Uint8Array([0, 255, 128, 10, 14]),
  },
  {
    what: "validator('form')",
    reader: validator('form', (value) => value),
    read: (c) => c.req.parseBody(),
    type: 'application/x-www-form-urlencoded',
    body: 'name=J%C3%BCrgen+M%C3%BCller&amount=5',
    other: 'name=J%C3%BCrgen+M%C3%BCller&amount=6',
  },
  {
    // Hono keeps only the FormData, which it would turn back into multipart
    // with a new random boundary each time.
    what: 'c.req.formData() on a urlencoded form',
    reader: readsFirst((c) => c.req.formData()),
    read: (c) => c.req.parseBody(),
    type: 'application/x-www-form-urlencoded',
    body: 'a=1&b=x+y&a=2',
    other: 'a=1&b=x+y&a=3',
  },
];

describe('a body a middleware read before idem (Hono keeps it on c.req)', () => {
  for (const { what, reader, read, type, body, same, other } of readers) {
    for (const declared of [false, true]) {
      const way = declared ? 'with Content-Length' : 'chunked (no Content-Length)';
      it(`${what}, ${way}: the retry replays, another body gets 422, the handler reads it again`, async () => {
        const { app, errors, runs } = appWith(reader, read);
        const first = await send(app, 'k', body, type, declared);
        expect(first.status, await first.clone().text()).toBe(200);
        const answer = await first.text();
        // Sent the other way, and written differently where that is the same request.
        for (const retry of [
          await send(app, 'k', body, type, !declared),
          await send(app, 'k', same ?? body, type, declared),
        ]) {
          expect(retry.headers.get('idempotent-replayed')).toBe('true');
          expect(await retry.text()).toBe(answer);
        }
        expect((await send(app, 'k', other, type, declared)).status).toBe(422);
        expect(runs()).toBe(1);
        expect(errors).toEqual([]);
      });
    }
  }

  it('a multipart form read with c.req.formData(): the same fields and files replay, another file gets 422', async () => {
    const { app, runs } = appWith(
      readsFirst((c) => c.req.formData()),
      async (c) => Object.keys(await c.req.parseBody()),
    );
    const form = (file: string) => {
      const data = new FormData();
      data.append('note', 'hello');
      data.append('upload', new File([file], 'a.txt', { type: 'text/plain' }));
      return data;
    };
    const first = await send(app, 'k', form('one'), undefined, false);
    expect(first.status).toBe(200);
    // Its multipart boundary is new, its fields and file the same.
    const retry = await send(app, 'k', form('one'), undefined, false);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect((await send(app, 'k', form('two'), undefined, false)).status).toBe(422);
    expect(runs()).toBe(1);
  });

  it('a chunked body over maxRequestBytes that a middleware read gets 413 and does not run', async () => {
    const { app, runs } = appWith(
      readsFirst((c) => c.req.text()),
      (c) => c.req.text(),
    );
    const over = await send(app, 'k', 'x'.repeat(1001), 'text/plain', false);
    expect(over.status).toBe(413);
    expect((await over.json()).type).toBe('urn:idem:problem:request-too-large');
    expect((await send(app, 'k', 'x'.repeat(1000), 'text/plain', false)).status).toBe(200);
    expect(runs()).toBe(1);
  });

  for (const declared of [false, true]) {
    const way = declared ? 'with Content-Length' : 'chunked (no Content-Length)';
    it(`a body read from c.req.raw, which keeps nothing, ${way}: a 500 whose error names the fix`, async () => {
      const { app, errors, runs } = appWith(
        readsFirst((c) => c.req.raw.text()),
        (c) => c.req.text(),
      );
      const res = await send(app, 'k', 'hello', 'text/plain', declared);
      expect(res.status).toBe(500);
      expect(runs()).toBe(0);
      expect(errors).toHaveLength(1);
      expect(isIdempotencyError(errors[0], 'CONFIGURATION')).toBe(true);
      expect((errors[0] as Error).message).toMatch(
        /c\.req\.raw.*c\.req\.text\(\).*mount idempotency\(\) first/,
      );
    });
  }
});
