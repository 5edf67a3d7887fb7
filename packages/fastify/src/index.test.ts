import { connect } from 'node:net';
import { Readable } from 'node:stream';
import type { HookEvent } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type FastifyIdempotencyOptions, idempotency } from './index.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function start(
  setup: (app: FastifyInstance) => void | Promise<void>,
  options: Partial<FastifyIdempotencyOptions> = {},
) {
  const app = Fastify();
  apps.push(app);
  await app.register(idempotency, { store: memoryStore(), scope: () => 'tenant', ...options });
  await setup(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

function post(
  url: string,
  init: { key?: string; body?: string; type?: string; headers?: Record<string, string> } = {},
) {
  return fetch(url, {
    method: 'POST',
    body: init.body ?? '{"amount":1}',
    headers: {
      'content-type': init.type ?? 'application/json',
      ...(init.key !== undefined ? { 'idempotency-key': init.key } : {}),
      ...init.headers,
    },
  });
}

async function replays(url: string, key: string, init: Parameters<typeof post>[1] = {}) {
  const first = await post(url, { ...init, key });
  const firstBody = Buffer.from(await first.arrayBuffer());
  const again = await post(url, { ...init, key });
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.status).toBe(first.status);
  expect(Buffer.from(await again.arrayBuffer()).equals(firstBody)).toBe(true);
  for (const name of ['content-type', 'x-run', 'x-hook']) {
    expect(again.headers.get(name), name).toBe(first.headers.get(name));
  }
  return { first, firstBody };
}

describe('@idem/fastify', () => {
  it('captures reply.send with objects, strings, Buffers and streams, and reply.code', async () => {
    let runs = 0;
    const url = await start((app) => {
      app.post('/object', async (_req, reply) => reply.code(201).send({ run: ++runs }));
      app.post('/return', async () => ({ run: ++runs }));
      app.post('/string', async (_req, reply) => reply.send(`run ${++runs}`));
      app.post('/buffer', async (_req, reply) => reply.send(Buffer.from([0, 255, ++runs])));
      app.post('/stream', async (_req, reply) =>
        reply.type('text/plain').send(Readable.from([`run `, `${++runs}`])),
      );
      app.post('/web-stream', async (_req, reply) =>
        reply.type('text/plain').send(new Response(`web ${++runs}`).body),
      );
      app.post('/empty', async (_req, reply) => {
        runs++;
        return reply.code(204).send();
      });
    });
    for (const route of ['object', 'return', 'string', 'buffer', 'stream', 'web-stream', 'empty']) {
      const before = runs;
      await replays(`${url}/${route}`, route);
      expect(runs - before, route).toBe(1);
    }
  });

  it('stores what onSend hooks made of the response and replays it without running them again', async () => {
    let runs = 0;
    let hooks = 0;
    const url = await start((app) => {
      app.addHook('onSend', async (_req, reply, payload) => {
        hooks++;
        reply.header('x-hook', String(hooks));
        return `${String(payload)} (wrapped ${hooks})`;
      });
      app.post('/', async (_req, reply) => reply.header('x-run', String(++runs)).send('body'));
    });
    const { firstBody } = await replays(url, 'k');
    expect(firstBody.toString()).toBe('body (wrapped 1)');
    expect(hooks).toBe(1);
  });

  it('releases the key when the handler throws, whatever status the error carries', async () => {
    let runs = 0;
    const url = await start((app) => {
      app.post('/conflict', async () => {
        runs++;
        throw Object.assign(new Error('taken'), { statusCode: 409 });
      });
      app.post('/crash', () => {
        runs++;
        throw new Error('sync');
      });
    });
    for (const path of ['/conflict', '/crash']) {
      const first = await post(url + path, { key: path });
      const retry = await post(url + path, { key: path });
      expect(retry.status).toBe(first.status);
      expect(retry.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(runs).toBe(4);
  });

  it('stores nothing for a request rejected before the handler (schema validation)', async () => {
    let runs = 0;
    const url = await start((app) => {
      app.post('/', { schema: { body: { type: 'object', required: ['amount'] } } }, async () => ({
        run: ++runs,
      }));
    });
    expect((await post(url, { key: 'k', body: '{}' })).status).toBe(400);
    expect((await post(url, { key: 'k', body: '{"amount":1}' })).status).toBe(200);
    expect(runs).toBe(1);
  });

  it('fingerprints the raw bytes whichever content-type parser reads them', async () => {
    let runs = 0;
    const url = await start((app) => {
      app.addContentTypeParser('application/x-csv', { parseAs: 'string' }, (_req, body, done) =>
        done(null, String(body).split(',')),
      );
      // A parser that leaves the stream to the handler.
      app.addContentTypeParser('application/x-stream', (_req, payload, done) =>
        done(null, payload),
      );
      app.post('/', async (req) => {
        runs++;
        if (req.body instanceof Readable) {
          const chunks: Buffer[] = [];
          for await (const chunk of req.body) chunks.push(chunk as Buffer);
          return { streamed: Buffer.concat(chunks).toString() };
        }
        return { body: req.body };
      });
    });
    await replays(url, 'json', { body: '{"a":1,"b":2}' });
    const reordered = await post(url, { key: 'json', body: '{ "b": 2, "a": 1 }' });
    expect(reordered.headers.get('idempotent-replayed')).toBe('true');
    expect((await post(url, { key: 'json', body: '{"a":1,"b":3}' })).status).toBe(422);

    const csv = { type: 'application/x-csv' };
    await replays(url, 'csv', { ...csv, body: 'a,b' });
    expect((await post(url, { ...csv, key: 'csv', body: 'a,c' })).status).toBe(422);

    const stream = { type: 'application/x-stream' };
    const { firstBody } = await replays(url, 'stream', { ...stream, body: 'x'.repeat(100_000) });
    expect(JSON.parse(firstBody.toString()).streamed).toHaveLength(100_000);
    expect((await post(url, { ...stream, key: 'stream', body: 'y' })).status).toBe(422);
    expect(runs).toBe(3);
  });

  it('hands the claim to the handler as request.idempotency, undefined when not covered', async () => {
    const url = await start((app) => {
      app.post('/', async (req) => req.idempotency);
      app.get('/', async (req) => ({ claim: req.idempotency ?? 'none' }));
    });
    const claim = await (await post(url, { key: 'k' })).json();
    expect(claim).toMatchObject({ protected: true, storeKey: expect.stringMatching(/^idem1:/) });
    expect(await (await fetch(url)).json()).toEqual({ claim: 'none' });
  });

  it('covers routes registered after it in child plugins', async () => {
    let runs = 0;
    const url = await start(async (app) => {
      await app.register(async (child) => {
        child.post('/child', async () => ({ run: ++runs }));
      });
    });
    await replays(`${url}/child`, 'k');
    expect((await post(`${url}/child`)).status).toBe(400);
    expect(runs).toBe(1);
  });

  it('keeps headers set by earlier hooks on replays and problems', async () => {
    const url = await start((app) => {
      app.addHook('onRequest', async (_req, reply) => {
        reply.header('access-control-allow-origin', '*');
      });
      app.post('/', async () => ({ ok: true }));
    });
    await post(url, { key: 'k' });
    const replay = await post(url, { key: 'k' });
    expect(replay.headers.get('access-control-allow-origin')).toBe('*');
    const problem = await post(url);
    expect(problem.status).toBe(400);
    expect(problem.headers.get('access-control-allow-origin')).toBe('*');
    expect(problem.headers.get('content-type')).toBe('application/problem+json');
  });

  it('stores the answer of a handler the client stopped waiting for', async () => {
    let runs = 0;
    let finish!: () => void;
    const url = await start((app) => {
      app.post('/', async () => {
        runs++;
        await new Promise<void>((r) => (finish = r));
        return { charged: runs };
      });
    });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: k\r\nContent-Length: 2\r\n\r\n{}',
    );
    for (let i = 0; i < 100 && runs === 0; i++) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
    finish();
    await new Promise((r) => setTimeout(r, 20));
    const retry = await post(url, { key: 'k', body: '{}' });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual({ charged: 1 });
    expect(runs).toBe(1);
  });

  it('covers routes registered before the plugin whole: a retry replays, never runs again', async () => {
    let runs = 0;
    const app = Fastify();
    apps.push(app);
    app.post('/early', async (_req, reply) => reply.code(201).send({ charged: ++runs }));
    await app.register(idempotency, { store: memoryStore(), scope: () => 'tenant' });
    app.post('/late', async (_req, reply) => reply.code(201).send({ charged: ++runs }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    for (const route of ['early', 'late']) {
      expect((await post(`${url}/${route}`)).status, `${route} without a key`).toBe(400);
      const before = runs;
      await replays(`${url}/${route}`, route);
      expect(runs - before, route).toBe(1);
    }
  });

  it('never runs twice when the client leaves while a streamed answer is being written', async () => {
    let runs = 0;
    let finish!: () => void;
    const url = await start((app) => {
      app.post('/', async (_req, reply) => {
        runs++;
        const body = new Readable({ read() {} });
        body.push('charged ');
        new Promise<void>((r) => (finish = r)).then(() => {
          body.push(String(runs));
          body.push(null);
        });
        return reply.type('text/plain').send(body);
      });
    });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: k\r\nContent-Length: 2\r\n\r\n{}',
    );
    for (let i = 0; i < 100 && runs === 0; i++) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
    finish();
    await new Promise((r) => setTimeout(r, 50));
    const retry = await post(url, { key: 'k', body: '{}' });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toBe('charged 1');
    expect(runs).toBe(1);
  });

  it('hook events carry the method, the path, the route and the status', async () => {
    const events: Array<HookEvent & { outcome: string; status?: number }> = [];
    const url = await start(
      (app) => {
        app.post('/payments/:id', async (_req, reply) => reply.code(201).send({ ok: true }));
      },
      { hooks: { finished: (e) => void events.push(e) } },
    );
    await post(`${url}/payments/42`, { key: 'k' });
    await post(`${url}/payments/42`, { key: 'k' });
    expect(events.map((e) => [e.method, e.path, e.route, e.outcome, e.status])).toEqual([
      ['POST', '/payments/42', '/payments/:id', 'executed', 201],
      ['POST', '/payments/42', '/payments/:id', 'replayed', 201],
    ]);
  });
});

describe('misconfiguration', () => {
  it('a scope that is not a function (a string, as run() takes) fails the app at startup', async () => {
    for (const scope of ['tenant-1', 42, null]) {
      const app = Fastify();
      app.register(idempotency, { store: memoryStore(), scope: scope as never });
      app.post('/x', async () => ({ ok: true }));
      await expect(app.ready()).rejects.toMatchObject({ code: 'CONFIGURATION' });
      await app.close().catch(() => {});
    }
  });

  it('registered again under a context that has it fails at startup naming the fix; sibling contexts each have their own', async () => {
    const nested = Fastify();
    await nested.register(idempotency, { store: memoryStore(), scope: () => 'tenant' });
    nested.register(async (child) => {
      await child.register(idempotency, { store: memoryStore(), scope: () => 'tenant' });
    });
    await expect(nested.ready()).rejects.toMatchObject({
      code: 'CONFIGURATION',
      message: expect.stringMatching(/already registered .*config: \{ idempotency/),
    });
    await nested.close().catch(() => {});

    const siblings = Fastify();
    let runs = 0;
    for (const prefix of ['/a', '/b']) {
      siblings.register(
        async (child) => {
          await child.register(idempotency, { store: memoryStore(), scope: () => 'tenant' });
          child.post('/pay', async (_req, reply) => {
            runs++;
            return reply.code(201).send({ prefix });
          });
        },
        { prefix },
      );
    }
    for (const prefix of ['/a', '/b']) {
      for (const replay of [undefined, 'true']) {
        const res = await siblings.inject({
          method: 'POST',
          url: `${prefix}/pay`,
          headers: { 'idempotency-key': 'k-1' },
          payload: { amount: 1 },
        });
        expect(res.statusCode).toBe(201);
        expect(res.headers['idempotent-replayed']).toBe(replay);
      }
    }
    expect(runs).toBe(2);
    await siblings.close();
  });
});
