import type { HookEvent, Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import fc from 'fast-check';
import { type Env, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { streamSSE } from 'hono/streaming';
import { describe, expect, it, vi } from 'vitest';
import { type HonoIdempotencyOptions, type IdempotencyVariables, idempotency } from './index.js';

type Vars = { Variables: { tenant: string } };

function setup(options: Partial<HonoIdempotencyOptions<Vars>> = {}) {
  const runs = new Map<string, number>();
  const count = (route: string) => runs.set(route, (runs.get(route) ?? 0) + 1);
  const app = new Hono<Vars>();
  const errors = quietErrors(app);
  app.use(async (c, next) => {
    c.set('tenant', c.req.header('x-tenant') ?? 't1');
    await next();
  });
  app.use(idempotency<Vars>({ store: memoryStore(), scope: (c) => c.get('tenant'), ...options }));
  app.post('/json', async (c) => {
    count('json');
    const body = await c.req.json();
    c.header('x-run', String(runs.get('json')));
    c.header('set-cookie', 'session=abc');
    return c.json({ got: body, run: runs.get('json') }, 201);
  });
  app.post('/text', async (c) => {
    count('text');
    return c.text(`echo:${await c.req.text()}`);
  });
  app.post('/form', async (c) => {
    count('form');
    const form = await c.req.parseBody();
    return c.json(form);
  });
  app.post('/status/:code', (c) => {
    count('status');
    return c.json({ code: c.req.param('code') }, Number(c.req.param('code')) as 400);
  });
  app.post('/throw', () => {
    count('throw');
    throw new Error('boom');
  });
  app.post('/http-exception', () => {
    count('http-exception');
    throw new HTTPException(403, { message: 'nope' });
  });
  app.post('/empty', (c) => {
    count('empty');
    return c.body(null, 204);
  });
  app.post('/binary', async (c) => {
    count('binary');
    const size = Number(c.req.query('size'));
    const bytes = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
    return c.body(bytes, 200, { 'content-type': 'application/octet-stream' });
  });
  app.post('/sse', (c) => {
    count('sse');
    return streamSSE(c, async (stream) => {
      for (let i = 0; i < 3; i++) await stream.writeSSE({ data: `tick ${i}` });
    });
  });
  app.post('/slow', async (c) => {
    count('slow');
    await new Promise((r) => setTimeout(r, Number(c.req.query('ms') ?? 100)));
    return c.json({ slow: true });
  });
  app.get('/json', (c) => {
    count('get');
    return c.text('read');
  });
  return { app, runs, errors };
}

/**
 * Hono's default error handler without its `console.error`: the errors these
 * tests throw on purpose are kept, for the test to check, instead of printed.
 */
function quietErrors<E extends Env>(app: Hono<E>): Error[] {
  const errors: Error[] = [];
  app.onError((error, c) => {
    errors.push(error);
    return error instanceof HTTPException
      ? error.getResponse()
      : c.text('Internal Server Error', 500);
  });
  return errors;
}

/** A logger that keeps idem's lines instead of printing them. */
function keptLog() {
  const lines: string[] = [];
  const keep = (message: string) => void lines.push(message);
  return { lines, logger: { warn: keep, error: keep } };
}

const post = (
  app: Hono<Vars>,
  path: string,
  init: { key?: string; body?: BodyInit; headers?: Record<string, string> } = {},
) =>
  app.request(path, {
    method: 'POST',
    body: init.body ?? '{"a":1}',
    headers: {
      'content-type': 'application/json',
      ...(init.key !== undefined ? { 'idempotency-key': init.key } : {}),
      ...init.headers,
    },
  });

describe('@idem/hono', () => {
  it('runs the handler once and replays status, headers and body byte for byte', async () => {
    const { app, runs } = setup();
    const first = await post(app, '/json', { key: 'k' });
    const again = await post(app, '/json', { key: 'k', body: '{ "a" : 1 }' });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(first.headers.get('set-cookie')).toBe('session=abc');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-run')).toBe('1');
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(await again.text()).toBe(await first.text());
    expect(runs.get('json')).toBe(1);
  });

  it('lets the handler read the body it fingerprinted (json, text, form)', async () => {
    const { app } = setup();
    expect(await (await post(app, '/json', { key: 'a', body: '{"x":[1,2]}' })).json()).toEqual({
      got: { x: [1, 2] },
      run: 1,
    });
    const text = await post(app, '/text', {
      key: 'b',
      body: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(await text.text()).toBe('echo:hello');
    const form = await post(app, '/form', {
      key: 'c',
      body: 'x=1&y=2',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(await form.json()).toEqual({ x: '1', y: '2' });
  });

  it('passes uncovered methods through and asks for a key on covered ones', async () => {
    const { app, runs } = setup();
    expect(await (await app.request('/json')).text()).toBe('read');
    const missing = await post(app, '/json');
    expect(missing.status).toBe(400);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect((await missing.json()).type).toBe('urn:idem:problem:key-missing');
    const invalid = await post(app, '/json', { key: 'x'.repeat(256) });
    expect(invalid.status).toBe(400);
    expect((await invalid.json()).type).toBe('urn:idem:problem:key-invalid');
    expect(runs.get('json')).toBeUndefined();
    const optional = setup({ required: false });
    expect((await post(optional.app, '/json')).status).toBe(201);
    expect((await post(optional.app, '/json')).status).toBe(201);
    expect(optional.runs.get('json')).toBe(2);
  });

  it('answers 422 for a reused key with another body, path or query', async () => {
    const { app, runs } = setup();
    await post(app, '/json', { key: 'k' });
    for (const res of [
      await post(app, '/json', { key: 'k', body: '{"a":2}' }),
      await post(app, '/json?x=1', { key: 'k' }),
      await post(app, '/text', { key: 'k' }),
    ]) {
      expect(res.status).toBe(422);
      expect((await res.json()).type).toBe('urn:idem:problem:fingerprint-mismatch');
    }
    expect(runs.get('json')).toBe(1);
  });

  it('replays JSON bodies whatever their key order and whitespace (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 6 }), async (obj) => {
        const { app, runs } = setup();
        const keys = Object.keys(obj);
        const reordered = Object.fromEntries(keys.reverse().map((k) => [k, obj[k]]));
        await post(app, '/json', { key: 'k', body: JSON.stringify(obj) });
        const replay = await post(app, '/json', {
          key: 'k',
          body: JSON.stringify(reordered, null, 2),
        });
        expect(replay.status).toBe(201);
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(runs.get('json')).toBe(1);
      }),
      { numRuns: 50 },
    );
  });

  it('stores 4xx, releases 5xx and thrown errors (HTTPException included)', async () => {
    const { app, runs, errors } = setup();
    expect((await post(app, '/status/409', { key: 'a' })).status).toBe(409);
    const replayed = await post(app, '/status/409', { key: 'a' });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect((await post(app, '/status/503', { key: 'b' })).status).toBe(503);
    expect(
      (await post(app, '/status/503', { key: 'b' })).headers.get('idempotent-replayed'),
    ).toBeNull();
    expect(runs.get('status')).toBe(3);
    expect((await post(app, '/throw', { key: 'c' })).status).toBe(500);
    expect((await post(app, '/throw', { key: 'c' })).status).toBe(500);
    expect(runs.get('throw')).toBe(2);
    expect((await post(app, '/http-exception', { key: 'd' })).status).toBe(403);
    expect((await post(app, '/http-exception', { key: 'd' })).status).toBe(403);
    expect(runs.get('http-exception')).toBe(2);
    // Every throw reached the app's error handler, none was swallowed.
    expect(errors.map((e) => e.message)).toEqual(['boom', 'boom', 'nope', 'nope']);
  });

  it('stores 5xx when shouldStore keeps them (Stripe parity)', async () => {
    const { app, runs } = setup({ shouldStore: () => true });
    await post(app, '/status/500', { key: 'k' });
    const replay = await post(app, '/status/500', { key: 'k' });
    expect(replay.status).toBe(500);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(runs.get('status')).toBe(1);
  });

  it('replays empty 204 responses and 1 MiB binary bodies exactly', async () => {
    const { app, runs } = setup();
    await post(app, '/empty', { key: 'e' });
    const empty = await post(app, '/empty', { key: 'e' });
    expect(empty.status).toBe(204);
    expect(empty.headers.get('idempotent-replayed')).toBe('true');
    expect((await empty.arrayBuffer()).byteLength).toBe(0);
    const size = 1024 * 1024;
    const first = new Uint8Array(
      await (await post(app, `/binary?size=${size}`, { key: 'b' })).arrayBuffer(),
    );
    const again = await post(app, `/binary?size=${size}`, { key: 'b' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // Buffer.equals: vitest's deep equality takes seconds on a million elements.
    expect(Buffer.from(await again.arrayBuffer()).equals(first)).toBe(true);
    expect(first.byteLength).toBe(size);
    expect(runs.get('binary')).toBe(1);
    expect(runs.get('empty')).toBe(1);
  });

  it('sends a too-large response whole, then answers 410 and never runs it again', async () => {
    const { app, runs } = setup({ maxResponseBytes: 1000 });
    const first = await post(app, '/binary?size=5000', { key: 'big' });
    expect((await first.arrayBuffer()).byteLength).toBe(5000);
    const again = await post(app, '/binary?size=5000', { key: 'big' });
    expect(again.status).toBe(410);
    expect((await again.json()).type).toBe('urn:idem:problem:response-not-stored');
    expect(runs.get('binary')).toBe(1);
  });

  it('streams server-sent events untouched and does not replay them', async () => {
    const { app, runs } = setup();
    const first = await post(app, '/sse', { key: 's' });
    expect(await first.text()).toContain('data: tick 2');
    expect((await post(app, '/sse', { key: 's' })).status).toBe(410);
    expect(runs.get('sse')).toBe(1);
  });

  it('answers 409 with Retry-After to a duplicate in flight, or waits and replays', async () => {
    const { app, runs } = setup();
    const [a, b] = await Promise.all([
      post(app, '/slow?ms=80', { key: 'k' }),
      post(app, '/slow?ms=80', { key: 'k' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const conflict = a.status === 409 ? a : b;
    expect(conflict.headers.get('retry-after')).toBe('1');
    expect((await conflict.json()).type).toBe('urn:idem:problem:request-in-flight');
    expect(runs.get('slow')).toBe(1);

    const waiting = setup({ concurrent: 'wait' });
    const both = await Promise.all([
      post(waiting.app, '/slow?ms=80', { key: 'k' }),
      post(waiting.app, '/slow?ms=80', { key: 'k' }),
    ]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(both.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(1);
    expect(waiting.runs.get('slow')).toBe(1);
  });

  it('keeps tenants apart: no replay, 409 or 422 across scopes', async () => {
    const { app, runs } = setup();
    await post(app, '/json', { key: 'k', headers: { 'x-tenant': 'a' } });
    const other = await post(app, '/json', {
      key: 'k',
      body: '{"b":1}',
      headers: { 'x-tenant': 'b' },
    });
    expect(other.status).toBe(201);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect(runs.get('json')).toBe(2);
  });

  it('answers 503 and does not run the handler when the store fails, unless failOpen', async () => {
    const broken: Store = {
      claim: () => Promise.reject(new Error('connection refused')),
      complete: () => Promise.reject(new Error('down')),
      release: () => Promise.reject(new Error('down')),
      renew: () => Promise.reject(new Error('down')),
      read: () => Promise.reject(new Error('down')),
    };
    const log = keptLog();
    const closed = setup({ store: broken, logger: log.logger });
    const res = await post(closed.app, '/json', { key: 'k' });
    expect(res.status).toBe(503);
    expect((await res.json()).type).toBe('urn:idem:problem:store-unavailable');
    expect(closed.runs.get('json')).toBeUndefined();
    const open = setup({ store: broken, failOpen: true, logger: log.logger });
    expect((await post(open.app, '/json', { key: 'k' })).status).toBe(201);
    expect(open.runs.get('json')).toBe(1);
    // Each mount reported the failing store to the logger it was given.
    expect(log.lines).toEqual([
      expect.stringContaining('the store failed during claim: connection refused'),
      expect.stringContaining('the store failed during claim: connection refused'),
    ]);
  });

  it('scopes by Authorization by default and warns once when requests share one key space', async () => {
    const warn = vi.fn();
    let runs = 0;
    const app = new Hono();
    app.use(idempotency({ store: memoryStore(), logger: { warn } }));
    app.post('/p', (c) => c.json({ run: ++runs }));
    const send = (auth?: string) =>
      app.request('/p', {
        method: 'POST',
        body: '{}',
        headers: { 'idempotency-key': 'same', ...(auth ? { authorization: auth } : {}) },
      });
    await send('Bearer alice');
    expect((await send('Bearer bob')).headers.get('idempotent-replayed')).toBeNull();
    expect((await send('Bearer alice')).headers.get('idempotent-replayed')).toBe('true');
    expect(runs).toBe(2);
    expect(warn).not.toHaveBeenCalled();
    await send();
    await send();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toContain('share one idempotency key space');
  });

  it('hands background completion retries to executionCtx.waitUntil', async () => {
    let failures = 1;
    const inner = memoryStore();
    const flaky: Store = {
      ...inner,
      claim: inner.claim,
      read: inner.read,
      release: inner.release,
      renew: inner.renew,
      complete: (...args) =>
        failures-- > 0 ? Promise.reject(new Error('blip')) : inner.complete(...args),
    };
    let runs = 0;
    const app = new Hono();
    const log = keptLog();
    app.use(idempotency({ store: flaky, scope: () => 't', logger: log.logger }));
    app.post('/p', (c) => c.json({ run: ++runs }));
    const pending: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (p: Promise<unknown>) => pending.push(p),
      passThroughOnException() {},
      props: {},
    };
    const init = { method: 'POST', body: '{}', headers: { 'idempotency-key': 'k' } };
    expect((await app.request('/p', init, {}, ctx)).status).toBe(200);
    expect(pending).toHaveLength(1);
    await Promise.all(pending);
    const replay = await app.request('/p', init, {}, ctx);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(runs).toBe(1);
    // The completion that failed before its retry succeeded was reported.
    expect(log.lines).toEqual([expect.stringContaining('the store failed during complete: blip')]);
  });

  it('types the claim it hands to handlers as c.get("idempotency"), undefined when not covered', async () => {
    type Env = { Variables: IdempotencyVariables & { tenant: string } };
    const app = new Hono<Env>();
    app.use(idempotency<Env>({ store: memoryStore(), scope: () => 't' }));
    app.get('/p', (c) => c.json({ claim: c.get('idempotency') ?? 'none' }));
    app.post('/p', (c) => {
      const claim = c.get('idempotency');
      if (!claim) return c.json({ error: 'not protected' }, 500);
      return c.json({ storeKey: claim.storeKey, token: claim.token, protected: claim.protected });
    });
    expect(await (await app.request('/p')).json()).toEqual({ claim: 'none' });
    const res = await app.request('/p', { method: 'POST', headers: { 'idempotency-key': 'k' } });
    expect(await res.json()).toMatchObject({
      protected: true,
      storeKey: expect.stringMatching(/^idem1:/),
    });
  });

  it('releases the key when the response body stream breaks', async () => {
    let runs = 0;
    const app = new Hono();
    const errors = quietErrors(app);
    app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
    app.post('/p', (c) => {
      runs++;
      const body = new ReadableStream({
        pull(controller) {
          controller.error(new Error('upstream went away'));
        },
      });
      return c.body(body);
    });
    const send = () => app.request('/p', { method: 'POST', headers: { 'idempotency-key': 'k' } });
    expect((await send()).status).toBe(500);
    expect((await send()).status).toBe(500);
    expect(runs).toBe(2);
    expect(errors.map((e) => e.message)).toEqual(['upstream went away', 'upstream went away']);
  });
});

describe('hook events of HTTP requests', () => {
  it('carry the method, the path, the route and the status', async () => {
    const events: Array<[string, HookEvent & { outcome?: string; status?: number }]> = [];
    const app = new Hono();
    app.use(
      idempotency({
        store: memoryStore(),
        scope: () => 't',
        hooks: {
          started: (e) => void events.push(['started', e]),
          finished: (e) => void events.push(['finished', e]),
        },
      }),
    );
    app.post('/payments/:id', (c) => c.json({ id: c.req.param('id') }, 201));
    const init = { method: 'POST', headers: { 'idempotency-key': 'k' } };
    await app.request('/payments/42', init);
    await app.request('/payments/42', init);
    expect(
      events.map(([name, e]) => [name, e.method, e.path, e.route, e.outcome, e.status]),
    ).toEqual([
      ['started', 'POST', '/payments/42', '/payments/:id', undefined, undefined],
      ['finished', 'POST', '/payments/42', '/payments/:id', 'executed', 201],
      ['started', 'POST', '/payments/42', '/payments/:id', undefined, undefined],
      ['finished', 'POST', '/payments/42', '/payments/:id', 'replayed', 201],
    ]);
  });
});

describe('misconfiguration', () => {
  it('a scope that is not a function (a string, as run() takes) is refused when the middleware is made', () => {
    for (const scope of ['tenant-1', 42, null]) {
      let error: unknown;
      try {
        idempotency({ store: memoryStore(), scope: scope as never });
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: 'CONFIGURATION' });
      expect(String(error)).toMatch(/option "scope" must be a function of the request/);
    }
  });
});
