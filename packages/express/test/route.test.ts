import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { memoryStore } from '@idem/store-memory';
import express5, { type RequestHandler } from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

// What route options do (key sources, required, skip, keyFormat, fingerprints,
// ttlMs and leaseMs, the body limit among them), on the mount and on a route
// with `idem.route({...})`, is the shared suite's (@idem/conformance/http,
// group `routes`): see conformance-http.test.ts. Here: what is Express's own,
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
async function start(express: typeof express5) {
  const idem = idempotency({ store: memoryStore(), scope: () => 'tenant', logger: false });
  const runs: Record<string, number> = {};
  const handler =
    (name: string): RequestHandler =>
    (req, res) => {
      const run = (runs[name] ?? 0) + 1;
      runs[name] = run;
      res.status(201).json({ route: name, run, protected: req.idempotency !== undefined });
    };

  const app = express();
  app.use(express.json());

  const payments = express.Router();
  payments.use(idem);
  payments.post('/charge', handler('charge'));
  payments.post('/refund', handler('refund'));
  app.use('/payments', payments);

  // A router's own options: for its routes only.
  const internal = express.Router();
  internal.use(idem.route({ key: 'x-request-id', required: false }));
  internal.post('/sync', handler('sync'));
  internal.post('/rebuild', handler('rebuild'));
  app.use('/internal', internal);

  // The route's lease is also how long idem waits for a handler whose client left.
  app.post(
    '/streams',
    idem.route({ leaseMs: (req) => (req.get('x-job') === 'tail' ? 200 : 60_000) }),
    (_req, res) => {
      runs.streams = (runs.streams ?? 0) + 1;
      res.setHeader('content-type', 'text/plain');
      res.write('partial ');
      // Never ends: a stream cut off when the client leaves.
    },
  );
  app.post('/drafts', handler('drafts'));

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

for (const [major, express] of [
  ['5', express5],
  ['4', express4 as unknown as typeof express5],
] as const) {
  describe(`@idem/express per-route options on Express ${major}`, () => {
    it("a router's options apply to that router's routes only", async () => {
      const { post, runs } = await start(express);
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
      const { post, port, runs } = await start(express);
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

    it('a route under the mount that also takes idem.route() is refused with the fix: 500, nothing runs, the key is not held', async () => {
      const idem = idempotency({ store: memoryStore(), scope: () => 'tenant', logger: false });
      const app = express();
      app.use(express.json());
      app.use(idem);
      let runs = 0;
      app.post('/both', idem.route({ ttlMs: 60_000 }), (_req, res) => {
        runs++;
        res.status(201).json({ ok: true });
      });
      const errors: unknown[] = [];
      app.use(((error, _req, res, _next) => {
        errors.push(error);
        res.status(500).json({ error: 'internal' });
      }) as express5.ErrorRequestHandler);
      const server = app.listen(0, '127.0.0.1');
      servers.push(server);
      await once(server, 'listening');
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/both`;
      const call = () =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'nested-1' },
          body: '{"amount":1}',
        });
      // Before: the inner middleware answered 409 to the outer one's claim,
      // which stored that 409 and replayed it for a day; the handler never ran.
      expect((await call()).status).toBe(500);
      expect((await call()).status).toBe(500);
      expect(runs).toBe(0);
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatchObject({ code: 'CONFIGURATION' });
      expect(String((errors[0] as Error).message)).toContain('instead of the mount');
    });
  });
}
