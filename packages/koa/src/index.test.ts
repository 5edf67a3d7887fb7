import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { type HookEvent, RolledBackError, type Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import fc from 'fast-check';
import Koa, { type Context, type Middleware } from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotency, type KoaIdempotencyOptions } from './index.js';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A Koa app that keeps its errors quiet (Koa logs every 5xx to stderr otherwise). */
function koa(): Koa {
  const app = new Koa();
  app.silent = true;
  return app;
}

async function listen(app: Pick<Koa, 'listen'>): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function post(
  url: string,
  init: { key?: string; body?: string; type?: string; headers?: Record<string, string> } = {},
) {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    body: init.body ?? '{"amount":1}',
    headers: {
      'content-type': init.type ?? 'application/json',
      ...(init.key !== undefined ? { 'idempotency-key': init.key } : {}),
      ...init.headers,
    },
  });
}

const options = (extra: Partial<KoaIdempotencyOptions> = {}): KoaIdempotencyOptions => ({
  store: memoryStore(),
  scope: () => 'tenant',
  ...extra,
});

describe('@idem/koa', () => {
  it('captures every body Koa sends (string, Buffer, JSON, streams, Blob, Response, none) and replays it byte for byte', async () => {
    const app = koa();
    app.use(idempotency(options()));
    let runs = 0;
    const routes: Record<string, Middleware> = {
      text: (ctx) => {
        ctx.body = `run ${++runs}`;
      },
      html: (ctx) => {
        ctx.body = `<p>run ${++runs}</p>`;
      },
      buffer: (ctx) => {
        ctx.status = 201;
        ctx.body = Buffer.from([0, 255, ++runs]);
      },
      json: (ctx) => {
        ctx.status = 201;
        ctx.body = { run: ++runs, nested: { list: [1, 'é'] } };
      },
      stream: (ctx) => {
        ctx.type = 'text/plain';
        ctx.body = Readable.from([`run `, `${++runs}`, '!']);
      },
      later: (ctx) => {
        // A stream the handler writes to after it returned.
        const body = new PassThrough();
        ctx.type = 'text/plain';
        ctx.body = body;
        const run = ++runs;
        setTimeout(() => body.end(`late run ${run}`), 20);
      },
      web: (ctx) => {
        ctx.type = 'text/plain';
        ctx.body = new Blob([`web run ${++runs}`]).stream();
      },
      blob: (ctx) => {
        ctx.type = 'text/plain';
        ctx.body = new Blob([`blob run ${++runs}`]);
      },
      response: (ctx) => {
        ctx.type = 'text/plain';
        ctx.body = new Response(`response run ${++runs}`);
      },
      status: (ctx) => {
        runs++;
        // No body: Koa answers the status message.
        ctx.status = 202;
      },
      empty: (ctx) => {
        runs++;
        ctx.body = null;
      },
      redirect: (ctx) => {
        runs++;
        ctx.redirect('/elsewhere');
      },
      raw: (ctx) => {
        // Koa bypassed: the handler answers on the Node response itself.
        ctx.respond = false;
        ctx.res.writeHead(202, { 'content-type': 'text/plain', 'x-run': String(++runs) });
        ctx.res.end('raw');
      },
    };
    const router = new Router();
    for (const [name, handler] of Object.entries(routes)) router.post(`/${name}`, handler);
    app.use(router.routes());
    const url = await listen(app);
    for (const name of Object.keys(routes)) {
      const before = runs;
      const first = await post(`${url}/${name}`, { key: name });
      const firstBody = Buffer.from(await first.arrayBuffer());
      const again = await post(`${url}/${name}`, { key: name });
      expect(again.headers.get('idempotent-replayed'), name).toBe('true');
      expect(again.status, name).toBe(first.status);
      expect(Buffer.from(await again.arrayBuffer()).equals(firstBody), name).toBe(true);
      for (const header of ['content-type', 'location', 'x-run']) {
        expect(again.headers.get(header), `${name} ${header}`).toBe(first.headers.get(header));
      }
      expect(runs - before, name).toBe(1);
    }
  });

  it('releases the key when the handler throws or rejects, whatever Koa answers: the retry runs again', async () => {
    const app = koa();
    app.use(idempotency(options()));
    let runs = 0;
    const router = new Router();
    router.post('/sync', () => {
      runs++;
      throw new Error('sync');
    });
    router.post('/async', async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('async');
    });
    // ctx.throw(409): Koa answers the 409, but the handler failed; nothing is stored.
    router.post('/conflict', (ctx) => {
      runs++;
      ctx.throw(409, 'taken');
    });
    app.use(router.routes());
    const url = await listen(app);
    for (const [path, status] of [
      ['/sync', 500],
      ['/async', 500],
      ['/conflict', 409],
    ] as const) {
      expect((await post(url + path, { key: path })).status, path).toBe(status);
      const retry = await post(url + path, { key: path });
      expect(retry.status, path).toBe(status);
      expect(retry.headers.get('idempotent-replayed'), path).toBeNull();
    }
    expect(runs).toBe(6);
  });

  it('releases the key when an error middleware mounted before idem turns the throw into an answer', async () => {
    const app = koa();
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        ctx.status = 422;
        ctx.body = { error: (error as Error).message };
      }
    });
    app.use(idempotency(options()));
    let runs = 0;
    app.use(() => {
      runs++;
      throw new Error('invalid');
    });
    const url = await listen(app);
    for (const expected of [1, 2]) {
      const res = await post(url, { key: 'k' });
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({ error: 'invalid' });
      expect(res.headers.get('idempotent-replayed')).toBeNull();
      expect(runs).toBe(expected);
    }
  });

  it('hands the claim to the handler as ctx.state.idempotency', async () => {
    const app = koa();
    app.use(idempotency(options()));
    app.use((ctx) => {
      const claim = ctx.state.idempotency;
      ctx.body = claim ?? 'none';
    });
    const url = await listen(app);
    const claim = await (await post(url, { key: 'k' })).json();
    expect(claim).toMatchObject({ protected: true });
    expect(claim.storeKey).toMatch(/^idem1:/);
    expect(claim.token).toEqual(expect.any(String));
    expect(await (await fetch(url)).text()).toBe('none');
  });

  it('gives scope the Koa context, typed state included', async () => {
    const app = new Koa<{ accountId: string }>();
    app.use(async (ctx, next) => {
      ctx.state.accountId = ctx.get('x-account');
      await next();
    });
    app.use(
      idempotency<{ accountId: string }>({
        store: memoryStore(),
        scope: (ctx) => ctx.state.accountId,
      }),
    );
    let runs = 0;
    app.use((ctx) => {
      ctx.body = { run: ++runs, account: ctx.state.accountId };
    });
    const url = await listen(app);
    const as = (account: string) => post(url, { key: 'k', headers: { 'x-account': account } });
    expect(await (await as('a')).json()).toEqual({ run: 1, account: 'a' });
    expect(await (await as('b')).json()).toEqual({ run: 2, account: 'b' });
    expect((await as('a')).headers.get('idempotent-replayed')).toBe('true');
  });

  it('fingerprints the full path when mounted on a prefixed router', async () => {
    const app = koa();
    const store = memoryStore();
    for (const prefix of ['/v1', '/v2']) {
      const router = new Router({ prefix });
      router.use(idempotency({ store, scope: () => 'tenant' }));
      router.post('/payments', (ctx) => {
        ctx.body = { at: ctx.originalUrl };
      });
      app.use(router.routes());
    }
    const url = await listen(app);
    expect((await post(`${url}/v1/payments`, { key: 'k' })).status).toBe(200);
    expect((await post(`${url}/v2/payments`, { key: 'k' })).status).toBe(422);
  });

  it('lets middleware before it finish its work after next(), on the first answer and on replays', async () => {
    const app = koa();
    const errors: unknown[] = [];
    app.on('error', (error) => errors.push(error));
    // Koa's canonical x-response-time middleware: a header set after next().
    app.use(async (ctx, next) => {
      await next();
      ctx.set('x-response-time', '1ms');
    });
    app.use(idempotency(options()));
    let runs = 0;
    app.use((ctx) => {
      ctx.status = 201;
      ctx.body = { run: ++runs };
    });
    const url = await listen(app);
    const first = await post(url, { key: 'k' });
    expect(first.headers.get('x-response-time')).toBe('1ms');
    const again = await post(url, { key: 'k' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-response-time')).toBe('1ms');
    expect(await again.json()).toEqual({ run: 1 });
    expect(errors).toEqual([]);
  });

  it('stores the body as middleware before it transformed it after next() (compression-like), and replays it as stored', async () => {
    const app = koa();
    // Like koa-compress: after next(), the body becomes a transformed stream,
    // unless there is none or the response already went out (a replay).
    app.use(async (ctx, next) => {
      await next();
      if (ctx.body == null || ctx.res.headersSent) return;
      const text = Buffer.isBuffer(ctx.body) ? ctx.body.toString() : String(ctx.body);
      ctx.set('x-transformed', 'upper');
      ctx.body = Readable.from([text.toUpperCase()]);
    });
    app.use(idempotency(options()));
    let runs = 0;
    app.use((ctx) => {
      ctx.type = 'text/plain';
      ctx.body = `run ${++runs} done`;
    });
    const url = await listen(app);
    const first = await post(url, { key: 'k' });
    expect(await first.text()).toBe('RUN 1 DONE');
    const again = await post(url, { key: 'k' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-transformed')).toBe('upper');
    expect(await again.text()).toBe('RUN 1 DONE');
    expect(runs).toBe(1);
  });

  it('sends a 503 rolled-back problem instead of the answer when the store rolls back', async () => {
    const inner = memoryStore();
    const store: Store = {
      ...inner,
      claim: inner.claim,
      read: inner.read,
      release: inner.release,
      renew: inner.renew,
      complete: () => Promise.reject(new RolledBackError(new Error('serialization failure'))),
    };
    const app = koa();
    app.use(idempotency(options({ store })));
    app.use((ctx) => {
      ctx.status = 201;
      ctx.body = { charged: true };
    });
    const url = await listen(app);
    const res = await post(url, { key: 'k' });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await res.json()).type).toBe('urn:idem:problem:rolled-back');
  });

  it('answers 500 naming the fix when the body was read before it and nothing kept it', async () => {
    const app = koa();
    const errors: Error[] = [];
    app.use(async (_ctx, next) => {
      try {
        await next();
      } catch (error) {
        errors.push(error as Error);
        throw error;
      }
    });
    app.use(async (ctx, next) => {
      ctx.req.resume();
      await once(ctx.req, 'end');
      await next();
    });
    app.use(idempotency(options()));
    app.use((ctx) => {
      ctx.body = {};
    });
    const url = await listen(app);
    const res = await post(url, { key: 'k' });
    expect(res.status).toBe(500);
    expect(errors[0]).toMatchObject({ code: 'BODY_CONSUMED' });
    expect(errors[0]!.message).toMatch(/Mount idempotency\(\) before .*@koa\/bodyparser/);
  });

  it('refuses a route under the mount that also takes idem.route(): 500, nothing runs, the key is not held', async () => {
    const idem = idempotency(options({ logger: false }));
    const app = koa();
    const errors: unknown[] = [];
    app.on('error', (error) => errors.push(error));
    app.use(idem);
    let runs = 0;
    const router = new Router();
    router.post('/both', idem.route({ ttlMs: 60_000 }), (ctx) => {
      runs++;
      ctx.status = 201;
    });
    app.use(router.routes());
    const url = await listen(app);
    expect((await post(`${url}/both`, { key: 'nested-1' })).status).toBe(500);
    expect((await post(`${url}/both`, { key: 'nested-1' })).status).toBe(500);
    expect(runs).toBe(0);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ code: 'CONFIGURATION' });
    expect(String((errors[0] as Error).message)).toContain('instead of the mount');
  });
});

describe('@idem/koa request bodies', () => {
  type Order = 'none' | 'before' | 'after';

  /** One app per parser order, all on one store, so a key sent to each must replay. */
  async function apps() {
    const store = memoryStore();
    const urls = {} as Record<Order, string>;
    let runs = 0;
    for (const order of ['none', 'before', 'after'] as const) {
      const app = koa();
      const parser = bodyParser({ enableTypes: ['json', 'form', 'text'] });
      if (order === 'before') app.use(parser);
      app.use(idempotency({ store, scope: () => 'shared' }));
      if (order === 'after') app.use(parser);
      app.use(async (ctx) => {
        runs++;
        let body: unknown = ctx.request.body;
        if (order === 'none') {
          const chunks: Buffer[] = [];
          for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
          body = Buffer.concat(chunks).toString();
        }
        ctx.body = { order, body };
      });
      urls[order] = await listen(app);
    }
    return { urls, runs: () => runs };
  }

  /** Content type, a body, the same body written differently, another body. */
  const cases: Array<[string, string, string, string]> = [
    [
      'application/json',
      '{"b":[1,2],"a":{"c":"é"}}',
      '{ "a": {"c": "\\u00e9"}, "b": [1, 2] }',
      '{"b":[2,1],"a":{"c":"é"}}',
    ],
    [
      'application/x-www-form-urlencoded',
      'a=1&b%5Bc%5D=x+y&d=2&d=3',
      'a=1&b%5Bc%5D=x+y&d=2&d=3',
      'a=1&b%5Bc%5D=x+y&d=3&d=2',
    ],
    ['text/plain', 'plain text é', 'plain text é', 'plain text e'],
  ];

  for (const [type, body, equivalent, changed] of cases) {
    it(`fingerprints ${type} bodies the same whether @koa/bodyparser runs before, after or not at all, with or without Content-Length`, async () => {
      const { urls, runs } = await apps();
      const orders = Object.keys(urls) as Order[];
      // Chunked: a stream, sent without Content-Length.
      const send = (order: Order, key: string, text: string, chunked: boolean) =>
        fetch(urls[order], {
          method: 'POST',
          body: chunked ? new Blob([text]).stream() : text,
          headers: { 'content-type': type, 'idempotency-key': key },
          duplex: 'half',
        } as RequestInit);
      for (const first of orders) {
        for (const chunked of [false, true]) {
          const key = `k-${first}-${chunked}`;
          const original = await send(first, key, body, chunked);
          expect(original.status, `${type} first via ${first}, chunked: ${chunked}`).toBe(200);
          const seen = await original.json();
          for (const other of orders) {
            for (const retried of [chunked, !chunked]) {
              const retry = await send(other, key, equivalent, retried);
              expect(
                retry.headers.get('idempotent-replayed'),
                `${type}: ${first} then ${other}, chunked: ${chunked} then ${retried}`,
              ).toBe('true');
              expect(await retry.json()).toEqual(seen);
            }
          }
          const different = await send(
            orders[(orders.indexOf(first) + 1) % orders.length]!,
            key,
            changed,
            !chunked,
          );
          expect(different.status, `${type}: a changed body after ${first}`).toBe(422);
        }
      }
      expect(runs()).toBe(orders.length * 2);
    });
  }

  it('fingerprints a body a parser kept only as parsed fields (no rawBody) as the fields', async () => {
    const store = memoryStore();
    const urls: string[] = [];
    let runs = 0;
    for (const keepRaw of [true, false]) {
      const app = koa();
      app.use(bodyParser({ enableTypes: ['form'] }));
      // A parser that keeps no raw text (koa-body without includeUnparsed, say).
      if (!keepRaw) {
        app.use(async (ctx, next) => {
          (ctx.request as { rawBody?: string }).rawBody = undefined;
          await next();
        });
      }
      app.use(idempotency({ store, scope: () => 'shared' }));
      app.use((ctx) => {
        ctx.body = { run: ++runs, body: ctx.request.body };
      });
      urls.push(await listen(app));
    }
    const form = 'name=J%C3%BCrgen+M%C3%BCller&amount=5';
    const type = 'application/x-www-form-urlencoded';
    const first = await post(urls[0]!, { key: 'f', body: form, type });
    const again = await post(urls[1]!, { key: 'f', body: form, type });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    const other = await post(urls[1]!, { key: 'f', body: 'name=x&amount=5', type });
    expect(other.status).toBe(422);
    expect(runs).toBe(1);
  });

  it('leaves the body readable for parsers and handlers mounted after it (property)', async () => {
    const app = koa();
    app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
    app.use(async (ctx) => {
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
      ctx.type = 'application/octet-stream';
      ctx.body = Buffer.concat(chunks);
    });
    const url = await listen(app);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200_000 }), async (bytes) => {
        const res = await fetch(url, {
          method: 'POST',
          body: bytes,
          headers: { 'idempotency-key': `k${n++}`, 'content-type': 'application/octet-stream' },
        });
        expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});

describe('@idem/koa when the client goes away', () => {
  /** Write a request by hand and hang up at the chosen moment. */
  function hangUp(url: string, key: string, body: string, sendWhole: boolean) {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nIdempotency-Key: ${key}\r\nContent-Length: ${body.length + (sendWhole ? 0 : 10)}\r\n\r\n${body}`,
    );
    return socket;
  }
  const until = async (condition: () => boolean) => {
    for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(condition()).toBe(true);
  };

  it('claims nothing when the client aborts while sending the body', async () => {
    let runs = 0;
    const app = koa();
    app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
    app.use((ctx) => {
      ctx.body = `run ${++runs}`;
    });
    const url = await listen(app);
    const socket = hangUp(url, 'k', 'part', false);
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const res = await post(url, { key: 'k', body: 'whole', type: 'text/plain' });
    expect(await res.text()).toBe('run 1');
    expect(runs).toBe(1);
  });

  it('stores the answer of a handler the client stopped waiting for: the retry gets a replay', async () => {
    let runs = 0;
    let finish!: () => void;
    const app = koa();
    app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
    app.use(async (ctx) => {
      runs++;
      await new Promise<void>((r) => (finish = r));
      ctx.body = `charged ${runs}`;
    });
    const url = await listen(app);
    const socket = hangUp(url, 'k', 'pay', true);
    await until(() => runs === 1);
    socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
    finish();
    await new Promise((r) => setTimeout(r, 20));
    const retry = await post(url, { key: 'k', body: 'pay', type: 'text/plain' });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toBe('charged 1');
    expect(runs).toBe(1);
  });

  it('records "ran, not stored" when a stream body never ends after the client left: the retry gets 410', async () => {
    let runs = 0;
    const app = koa();
    app.use(idempotency({ store: memoryStore(), scope: () => 't', leaseMs: 200, ttlMs: 60_000 }));
    app.use((ctx) => {
      runs++;
      const body = new PassThrough();
      ctx.type = 'text/plain';
      ctx.body = body;
      body.write('partial ');
      // Never ends: a stream cut off when the client leaves.
    });
    const url = await listen(app);
    const socket = hangUp(url, 'k', 'pay', true);
    await until(() => runs === 1);
    socket.destroy();
    await new Promise((r) => setTimeout(r, 400));
    const retry = await post(url, { key: 'k', body: 'pay', type: 'text/plain' });
    expect(retry.status).toBe(410);
    expect(await retry.json()).toMatchObject({ type: 'urn:idem:problem:response-not-stored' });
    expect(runs).toBe(1);
  });
});

describe('@idem/koa hook events', () => {
  it('carry the method and the full path', async () => {
    const events: Array<HookEvent & { outcome: string; status?: number }> = [];
    const app = koa();
    const router = new Router({ prefix: '/v1' });
    router.use(idempotency(options({ hooks: { finished: (e) => void events.push(e) } })));
    router.post('/payments/:id', (ctx: Context) => {
      ctx.status = 201;
      ctx.body = { ok: true };
    });
    app.use(router.routes());
    const url = await listen(app);
    await post(`${url}/v1/payments/42?x=1`, { key: 'k' });
    await post(`${url}/v1/payments/42?x=1`, { key: 'k' });
    expect(events.map((e) => [e.method, e.path, e.outcome, e.status])).toEqual([
      ['POST', '/v1/payments/42', 'executed', 201],
      ['POST', '/v1/payments/42', 'replayed', 201],
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
