import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { peek } from './peek.js';

// The middleware's fast path reads @hono/node-server's lightweight Response
// through a private cache. If a release changes that cache, peek() finds
// nothing, the middleware falls back to reading responses the standard way,
// and requests get slower without a word: these tests fail instead.
describe("peek reads @hono/node-server's lightweight Response without building it", () => {
  // Installing a request listener replaces the global Response, as serve() does.
  getRequestListener(() => new Response(null));
  const decode = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

  it('what c.json(), c.text() and c.body() return: the bytes and headers node-server sends', async () => {
    const app = new Hono();
    app.get('/json', (c) => c.json({ ok: 1 }, 201));
    app.get('/text', (c) => c.text('hi'));
    app.get('/body', (c) => c.body(new Uint8Array([1, 2])));
    app.get('/header', (c) => {
      c.header('x-run', '3');
      return c.json([]);
    });
    for (const [path, body] of [
      ['/json', '{"ok":1}'],
      ['/text', 'hi'],
      ['/body', '\x01\x02'],
      ['/header', '[]'],
    ] as const) {
      const res = await app.request(path);
      const seen = peek(res);
      expect(seen, path).toBeDefined();
      expect(decode(seen?.body), path).toBe(body);
      // What the standard path reads: the headers node-server writes.
      const headers = [...res.headers];
      expect(
        [...(seen?.headers ?? [])].map(([n, v]) => [n.toLowerCase(), v]),
        path,
      ).toEqual(headers);
      for (const [name, value] of headers) expect(seen?.header(name), path).toBe(value);
    }
  });

  it('a Response built with bytes and a header record, or with Headers', () => {
    const bytes = new Uint8Array([0, 1, 255]);
    const raw = peek(new Response(bytes, { status: 202, headers: { 'x-a': '1' } }));
    expect([...(raw?.body ?? [])]).toEqual([0, 1, 255]);
    expect(raw?.header('x-a')).toBe('1');
    expect([...(raw?.headers ?? [])]).toEqual([['x-a', '1']]);
    const withHeaders = peek(new Response('x', { headers: new Headers({ 'x-b': '2' }) }));
    expect(withHeaders?.header('x-b')).toBe('2');
  });

  it('leaves a stream body to the standard path', () => {
    expect(peek(new Response(new ReadableStream()))).toBeUndefined();
  });
});
