import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type HookEvent, RolledBackError, type Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import express5, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import express4 from 'express4';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExpressIdempotencyOptions, idempotency, keepRawBody } from './index.js';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function listen(app: Express): Promise<string> {
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

const options = (extra: Partial<ExpressIdempotencyOptions> = {}): ExpressIdempotencyOptions => ({
  store: memoryStore(),
  scope: () => 'tenant',
  ...extra,
});

for (const [major, express] of [
  ['5', express5],
  ['4', express4 as unknown as typeof express5],
] as const) {
  describe(`@idem/express on Express ${major}`, () => {
    it('captures every way Express ends a response and replays it byte for byte', async () => {
      const app = express();
      app.use(idempotency(options()));
      let runs = 0;
      const routes: Record<string, RequestHandler> = {
        json: (_req, res) => void res.status(201).json({ run: ++runs }),
        send: (_req, res) => void res.send(`<p>run ${++runs}</p>`),
        end: (_req, res) => {
          res.setHeader('content-type', 'text/plain');
          res.end(`run ${++runs}`);
        },
        write: (_req, res) => {
          res.setHeader('content-type', 'text/plain');
          res.write('run ');
          res.write(Buffer.from(String(++runs)));
          res.end('!', 'utf8');
        },
        latin1: (_req, res) => {
          ++runs;
          res.setHeader('content-type', 'text/plain; charset=latin1');
          res.end('caf\u00e9', 'latin1');
        },
        writeHead: (_req, res) => {
          res.writeHead(202, 'Taken', { 'x-run': String(++runs), 'content-type': 'text/plain' });
          res.end('ok');
        },
        sendStatus: (_req, res) => {
          runs++;
          res.sendStatus(409);
        },
        redirect: (_req, res) => {
          runs++;
          res.redirect(303, '/elsewhere');
        },
        sendFile: (_req, res) => {
          runs++;
          res.sendFile(fileURLToPath(import.meta.url));
        },
      };
      for (const [name, handler] of Object.entries(routes)) app.post(`/${name}`, handler);
      const url = await listen(app);
      for (const name of Object.keys(routes)) {
        const before = runs;
        const first = await post(`${url}/${name}`, { key: name });
        const firstBody = Buffer.from(await first.arrayBuffer());
        const again = await post(`${url}/${name}`, { key: name });
        expect(again.headers.get('idempotent-replayed'), name).toBe('true');
        expect(again.status, name).toBe(first.status);
        expect(Buffer.from(await again.arrayBuffer()).equals(firstBody), name).toBe(true);
        for (const header of [
          'content-type',
          'etag',
          'last-modified',
          'location',
          'x-run',
          'x-powered-by',
        ]) {
          expect(again.headers.get(header), `${name} ${header}`).toBe(first.headers.get(header));
        }
        expect(runs - before, name).toBe(1);
      }
    });

    it('releases the key when the handler throws, rejects or calls next(err)', async () => {
      const app = express();
      app.use(idempotency(options()));
      let runs = 0;
      app.post('/sync', () => {
        runs++;
        throw new Error('sync');
      });
      app.post('/next', (_req, _res, next) => {
        runs++;
        next(new Error('next'));
      });
      app.post('/async', (_req, _res, next) => {
        runs++;
        Promise.reject(new Error('async')).catch(next);
      });
      const url = await listen(app);
      for (const path of ['/sync', '/next', '/async']) {
        expect((await post(url + path, { key: path })).status).toBe(500);
        const retry = await post(url + path, { key: path });
        expect(retry.status).toBe(500);
        expect(retry.headers.get('idempotent-replayed')).toBeNull();
      }
      expect(runs).toBe(6);
    });

    it('sees an error as the answer Express gives for it: a 4xx from an error handler is stored', async () => {
      const app = express();
      app.use(idempotency(options()));
      let runs = 0;
      app.post('/conflict', (_req, _res, next) => {
        runs++;
        next(Object.assign(new Error('taken'), { status: 409 }));
      });
      const handler: ErrorRequestHandler = (error, _req, res, _next) => {
        res.status(error.status ?? 500).json({ error: error.message });
      };
      app.use(handler);
      const url = await listen(app);
      expect((await post(`${url}/conflict`, { key: 'k' })).status).toBe(409);
      const retry = await post(`${url}/conflict`, { key: 'k' });
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(runs).toBe(1);
    });

    it('hands the claim to the handler as req.idempotency', async () => {
      const app = express();
      app.use(idempotency(options()));
      app.post('/', (req, res) => void res.json(req.idempotency ?? null));
      app.get('/', (req, res) => void res.json(req.idempotency ?? null));
      const url = await listen(app);
      const claim = await (await post(url, { key: 'k' })).json();
      expect(claim).toMatchObject({ protected: true });
      expect(claim.storeKey).toMatch(/^idem1:/);
      expect(claim.token).toEqual(expect.any(String));
      expect(await (await fetch(url)).json()).toBeNull();
    });

    it('fingerprints the full path when mounted inside a router', async () => {
      const app = express();
      const router = express.Router();
      router.use(idempotency(options()));
      router.post('/payments', (req, res) => void res.json({ at: req.originalUrl }));
      app.use('/v1', router);
      app.use('/v2', router);
      const url = await listen(app);
      expect((await post(`${url}/v1/payments`, { key: 'k' })).status).toBe(200);
      expect((await post(`${url}/v2/payments`, { key: 'k' })).status).toBe(422);
    });

    it('keeps working under a response wrapper mounted after it (compression-like)', async () => {
      const app = express();
      app.use(idempotency(options()));
      // Like compression(): wraps write/end after idem did, transforming every chunk.
      app.use((_req, res, next) => {
        const write = res.write.bind(res) as (chunk: unknown) => boolean;
        const end = res.end.bind(res) as (chunk?: unknown) => unknown;
        const upper = (chunk: unknown) =>
          chunk === undefined ? undefined : String(chunk).toUpperCase();
        res.write = ((chunk: unknown) => write(upper(chunk))) as typeof res.write;
        res.end = ((chunk?: unknown) => end(upper(chunk))) as typeof res.end;
        next();
      });
      let runs = 0;
      app.post('/', (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.write(`run ${++runs} `);
        res.end('done');
      });
      const url = await listen(app);
      const first = await post(url, { key: 'k' });
      expect(await first.text()).toBe('RUN 1 DONE');
      const again = await post(url, { key: 'k' });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
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
      const app = express();
      app.use(idempotency(options({ store })));
      app.post('/', (_req, res) => void res.status(201).json({ charged: true }));
      const url = await listen(app);
      const res = await post(url, { key: 'k' });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect((await res.json()).type).toBe('urn:idem:problem:rolled-back');
    });

    it('answers 500 naming the fix when the body was read before it and nothing kept it', async () => {
      const app = express();
      app.use((req, _res, next) => {
        req.resume();
        req.on('end', () => next());
      });
      app.use(idempotency(options()));
      app.use(((error, _req, res, _next) => {
        res.status(error.status).json({ message: error.message });
      }) as ErrorRequestHandler);
      app.post('/', (_req, res) => void res.json({}));
      const url = await listen(app);
      const res = await post(url, { key: 'k' });
      expect(res.status).toBe(500);
      expect((await res.json()).message).toMatch(/Mount idempotency\(\) before .*keepRawBody/);
    });
  });
}

for (const [major, express] of [
  ['5', express5],
  ['4', express4 as unknown as typeof express5],
] as const) {
  describe(`@idem/express request bodies on Express ${major}`, () => {
    type Order = 'none' | 'before' | 'after' | 'verify';
    const parsers = {
      json: (verify?: typeof keepRawBody) => express.json(verify ? { verify } : {}),
      urlencoded: (verify?: typeof keepRawBody) =>
        express.urlencoded({ extended: true, ...(verify ? { verify } : {}) }),
      urlencodedFlat: (verify?: typeof keepRawBody) =>
        express.urlencoded({ extended: false, ...(verify ? { verify } : {}) }),
      raw: (verify?: typeof keepRawBody) =>
        express.raw({ type: () => true, ...(verify ? { verify } : {}) }),
      text: (verify?: typeof keepRawBody) =>
        express.text({ type: () => true, ...(verify ? { verify } : {}) }),
    };
    type Parser = keyof typeof parsers;

    /** One app per parser order, all on one store, so a key sent to each must replay. */
    async function apps(parser: Parser) {
      const store = memoryStore();
      const urls = {} as Record<Order, string>;
      let runs = 0;
      for (const order of ['none', 'before', 'after', 'verify'] as const) {
        const app = express();
        if (order === 'before') app.use(parsers[parser]());
        if (order === 'verify') app.use(parsers[parser](keepRawBody));
        app.use(idempotency({ store, scope: () => 'shared' }));
        if (order === 'after') app.use(parsers[parser]());
        app.post('/', async (req, res) => {
          runs++;
          let body = req.body;
          if (order === 'none') {
            const chunks: Buffer[] = [];
            for await (const chunk of req) chunks.push(chunk as Buffer);
            body = Buffer.concat(chunks).toString('latin1');
          }
          res.json({ order, body: Buffer.isBuffer(body) ? body.toString('latin1') : body });
        });
        urls[order] = await listen(app);
      }
      return { urls, runs: () => runs };
    }

    /** Parser, content type, a body, the same body written differently, another body. */
    const cases: Array<[Parser, string, string, string, string]> = [
      [
        'json',
        'application/json',
        '{"b":[1,2],"a":{"c":"é"}}',
        '{ "a": {"c": "\\u00e9"}, "b": [1, 2] }',
        '{"b":[2,1],"a":{"c":"é"}}',
      ],
      // Forms are raw bytes (docs/SEMANTICS.md, Fingerprints); a parser mounted first leaves fields,
      // re-encoded as browsers encode them, so a standard form matches itself.
      [
        'urlencoded',
        'application/x-www-form-urlencoded',
        'a=1&b%5Bc%5D=x+y&d=2&d=3',
        'a=1&b%5Bc%5D=x+y&d=2&d=3',
        'a=1&b%5Bc%5D=x+y&d=3&d=2',
      ],
      [
        'urlencodedFlat',
        'application/x-www-form-urlencoded',
        'a=1&a=2&b=x+y',
        'a=1&a=2&b=x+y',
        'a=2&a=1&b=x+y',
      ],
      [
        'raw',
        'application/octet-stream',
        '\u0000\u00ff binary',
        '\u0000\u00ff binary',
        '\u0000\u00fe binary',
      ],
      ['text', 'text/plain', 'plain text é', 'plain text é', 'plain text e'],
    ];

    for (const [parser, type, body, equivalent, changed] of cases) {
      it(`fingerprints ${parser} bodies the same whether the parser runs before, after or not at all, with or without Content-Length`, async () => {
        const { urls, runs } = await apps(parser);
        const orders = Object.keys(urls) as Order[];
        const bytes = (text: string) => (parser === 'raw' ? Buffer.from(text, 'latin1') : text);
        // Chunked: a stream, sent without Content-Length.
        const send = (order: Order, key: string, text: string, chunked: boolean) =>
          fetch(urls[order], {
            method: 'POST',
            body: chunked ? new Blob([bytes(text)]).stream() : bytes(text),
            headers: { 'content-type': type, 'idempotency-key': key },
            duplex: 'half',
          } as RequestInit);
        for (const first of orders) {
          for (const chunked of [false, true]) {
            const key = `k-${first}-${chunked}`;
            const original = await send(first, key, body, chunked);
            expect(original.status, `${parser} first via ${first}, chunked: ${chunked}`).toBe(200);
            const seen = await original.json();
            for (const other of orders) {
              for (const retried of [chunked, !chunked]) {
                const retry = await send(other, key, equivalent, retried);
                expect(
                  retry.headers.get('idempotent-replayed'),
                  `${parser}: ${first} then ${other}, chunked: ${chunked} then ${retried}`,
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
            expect(different.status, `${parser}: a changed body after ${first}`).toBe(422);
          }
        }
        expect(runs()).toBe(orders.length * 2);
      });
    }

    it('leaves the body readable for parsers and handlers mounted after it (property)', async () => {
      const app = express();
      app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
      app.post('/', async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        res.type('application/octet-stream').send(Buffer.concat(chunks));
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
}

describe('@idem/express when the client goes away', () => {
  /** Write a request by hand and hang up at the chosen moment. */
  function hangUp(url: string, key: string, body: string, sendWhole: boolean) {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
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
    const app = express5();
    app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
    app.post('/', (_req, res) => void res.send(`run ${++runs}`));
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
    const app = express5();
    app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
    app.post('/', async (_req, res) => {
      runs++;
      await new Promise<void>((r) => (finish = r));
      res.send(`charged ${runs}`);
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

  it('never runs twice when the client leaves after the handler started writing: its answer is stored when it ends', async () => {
    let runs = 0;
    let finish!: () => void;
    const app = express5();
    app.use(idempotency({ store: memoryStore(), scope: () => 't' }));
    app.post('/', async (_req, res) => {
      runs++;
      res.setHeader('content-type', 'text/plain');
      res.write('charged ');
      await new Promise<void>((r) => (finish = r));
      res.end(`${runs}`);
    });
    const url = await listen(app);
    const socket = hangUp(url, 'k', 'pay', true);
    await until(() => runs === 1);
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    finish();
    await new Promise((r) => setTimeout(r, 20));
    const retry = await post(url, { key: 'k', body: 'pay', type: 'text/plain' });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toBe('charged 1');
    expect(runs).toBe(1);
  });

  it('records "ran, not stored" when the handler never ends after the client left: the retry gets 410', async () => {
    let runs = 0;
    const app = express5();
    app.use(idempotency({ store: memoryStore(), scope: () => 't', leaseMs: 200, ttlMs: 60_000 }));
    app.post('/', (_req, res) => {
      runs++;
      res.setHeader('content-type', 'text/plain');
      res.write('partial ');
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

describe('@idem/express hook events', () => {
  it('carry the method and the full path (Express routes after middleware: no route pattern yet)', async () => {
    const events: Array<HookEvent & { outcome: string; status?: number }> = [];
    const app = express5();
    const router = express5.Router();
    router.use(idempotency(options({ hooks: { finished: (e) => void events.push(e) } })));
    router.post('/payments/:id', (_req, res) => void res.status(201).json({ ok: true }));
    app.use('/v1', router);
    const url = await listen(app);
    await post(`${url}/v1/payments/42?x=1`, { key: 'k' });
    await post(`${url}/v1/payments/42?x=1`, { key: 'k' });
    expect(events.map((e) => [e.method, e.path, e.route, e.outcome, e.status])).toEqual([
      ['POST', '/v1/payments/42', undefined, 'executed', 201],
      ['POST', '/v1/payments/42', undefined, 'replayed', 201],
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
