import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { memoryStore } from '@idem/store-memory';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa, { type Middleware } from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

// What route options do (key sources, required, skip, keyFormat, fingerprints,
// ttlMs and leaseMs, the body limit among them), on the mount and on a route
// with `idem.route({...})`, is the shared suite's (@idem/conformance/http,
// group `routes`): see conformance-http.test.ts. Here: what is Koa's own,
// the mount on one router (`payments.use(idem)`) beside a router with options
// of its own (`internal.use(idem.route({...}))`), sharing one store and
// engine, and how long a route's lease lets idem wait for a handler whose
// client left.

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/**
 * The app: `/payments/*` under the mount; `/internal/*` under a router's
 * own options; `/streams` with options of its own; `/drafts` left out.
 */
async function start() {
  const idem = idempotency({ store: memoryStore(), scope: () => 'tenant', logger: false });
  const runs: Record<string, number> = {};
  const handler =
    (name: string): Middleware =>
    (ctx) => {
      const run = (runs[name] ?? 0) + 1;
      runs[name] = run;
      ctx.status = 201;
      ctx.body = { route: name, run, protected: ctx.state.idempotency !== undefined };
    };

  const app = new Koa();
  // Koa logs the stream the client cut off; the test expects it.
  app.silent = true;
  app.use(bodyParser());

  const payments = new Router({ prefix: '/payments' });
  payments.use(idem);
  payments.post('/charge', handler('charge'));
  payments.post('/refund', handler('refund'));
  app.use(payments.routes());

  // A router's own options: for its routes only.
  const internal = new Router({ prefix: '/internal' });
  internal.use(idem.route({ key: 'x-request-id', required: false }));
  internal.post('/sync', handler('sync'));
  internal.post('/rebuild', handler('rebuild'));
  app.use(internal.routes());

  const router = new Router();
  // The route's lease is also how long idem waits for a handler whose client left.
  router.post(
    '/streams',
    idem.route({ leaseMs: (ctx) => (ctx.get('x-job') === 'tail' ? 200 : 60_000) }),
    (ctx) => {
      runs.streams = (runs.streams ?? 0) + 1;
      const body = new PassThrough();
      ctx.type = 'text/plain';
      ctx.body = body;
      body.write('partial ');
      // Never ends: a stream cut off when the client leaves.
    },
  );
  router.post('/drafts', handler('drafts'));
  app.use(router.routes());

  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{"amount":1}',
    });
  return { post, port, runs: (name: string) => runs[name] ?? 0 };
}

/** Status, `Idempotent-Replayed` and JSON body of a response. */
async function read(res: Response) {
  return {
    status: res.status,
    replayed: res.headers.get('idempotent-replayed'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
};

describe('@idem/koa per-route options', () => {
  it("a router's options apply to that router's routes only", async () => {
    const { post, runs } = await start();
    for (const [path, name] of [
      ['/internal/sync', 'sync'],
      ['/internal/rebuild', 'rebuild'],
    ] as const) {
      // Every route of the router: the key from x-request-id, keyless requests through.
      const key = { 'x-request-id': `${name}-1` };
      expect(await read(await post(path, key))).toMatchObject({
        replayed: null,
        body: { run: 1, protected: true },
      });
      expect(await read(await post(path, key))).toMatchObject({
        replayed: 'true',
        body: { run: 1 },
      });
      expect(await read(await post(path))).toMatchObject({
        replayed: null,
        body: { run: 2, protected: false },
      });
      expect(runs(name)).toBe(2);
    }
    // The mount's router keeps the mount's options: neither of those.
    for (const path of ['/payments/charge', '/payments/refund']) {
      expect((await post(path, { 'x-request-id': 'p-1' })).status, path).toBe(400);
      expect((await post(path)).status, path).toBe(400);
    }
    // Nor do routes outside the router.
    expect((await post('/drafts', { 'x-request-id': 'p-1' })).status).toBe(201);
    expect((await read(await post('/drafts', { 'x-request-id': 'p-1' }))).replayed).toBe(null);
    expect(runs('charge') + runs('refund')).toBe(0);
  });

  it("a route's lease bounds the wait for a handler that never ends after its client left: the retry gets 410", async () => {
    const { post, port, runs } = await start();
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      'POST /streams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: s-1\r\nX-Job: tail\r\nContent-Length: 12\r\n\r\n{"amount":1}',
    );
    await until(() => runs('streams') === 1);
    socket.destroy();
    // The route's 200 ms lease, not the mount's 30 s.
    await new Promise((r) => setTimeout(r, 400));
    const retry = await post('/streams', { 'idempotency-key': 's-1', 'x-job': 'tail' });
    expect(retry.status).toBe(410);
    expect(await retry.json()).toMatchObject({ type: 'urn:idem:problem:response-not-stored' });
    expect(runs('streams')).toBe(1);
  });
});
