import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { memoryStore } from '@idem/store-memory';
import express5, { type Request, type RequestHandler } from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

// Per-route options over real HTTP: the mount on one router
// (`payments.use(idem)`), a router with options of its own
// (`internal.use(idem.route({...}))`), and routes with options of their own
// (`idem.route({...})` instead of the mount on that route), all sharing one
// store and engine.

const servers: Server[] = [];
const hanging: Array<() => void> = [];
afterEach(() => {
  for (const resume of hanging.splice(0)) resume();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** Calls of the routes' `ttlMs` and `leaseMs` functions: the request they were given. */
interface Seen {
  readonly path: string;
  readonly header: string | undefined;
}

/**
 * The app: `/payments/*` under the mount; `/internal/*` under a router's
 * own options; `/orders`, `/drafts`, `/exports`, `/reports`, `/jobs` and
 * `/streams` with options of their own; `/search` left out. The store's clock
 * is `Date.now() + advance(ms)`.
 */
async function start(express: typeof express5) {
  let offset = 0;
  const store = memoryStore({ now: () => Date.now() + offset });
  const idem = idempotency({ store, scope: () => 'tenant', logger: false });
  const runs: Record<string, number> = {};
  const ttlCalls: Seen[] = [];
  const leaseCalls: Seen[] = [];
  const hung = new Set<string>();
  const seen = (req: Request, header: string) => ({
    path: req.originalUrl,
    header: req.get(header),
  });

  const handler =
    (name: string): RequestHandler =>
    (req, res, next) => {
      const run = (runs[name] ?? 0) + 1;
      runs[name] = run;
      const answer = () =>
        void res.status(201).json({ route: name, run, protected: req.idempotency !== undefined });
      // Under ?hang=1, the first run with a key hangs until the test lets it go.
      const key = `${name} ${req.get('idempotency-key')}`;
      if (req.query.hang !== '1' || hung.has(key)) return answer();
      hung.add(key);
      new Promise<void>((resolve) => hanging.push(resolve)).then(answer, next);
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

  app.post('/orders', idem.route({ key: 'x-request-id' }), handler('orders'));
  app.post('/drafts', idem.route({ required: false }), handler('drafts'));
  app.post('/exports', idem.route({ skip: (req) => req.query.dryRun === '1' }), handler('exports'));
  app.post(
    '/reports',
    idem.route({
      ttlMs: (req) => {
        ttlCalls.push(seen(req, 'x-plan'));
        return req.get('x-plan') === 'trial' ? 60_000 : 3_600_000;
      },
    }),
    handler('reports'),
  );
  app.post(
    '/jobs',
    idem.route({
      leaseMs: (req) => {
        leaseCalls.push(seen(req, 'x-job'));
        return req.get('x-job') === 'export' ? 10_000 : 40_000;
      },
    }),
    handler('jobs'),
  );
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
  app.post('/search', handler('search'));

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
  return {
    post,
    port,
    runs: (name: string) => runs[name] ?? 0,
    ttlCalls,
    leaseCalls,
    /** Handlers waiting under ?hang=1. */
    hanging: () => hanging.length,
    resume: () => {
      for (const resume of hanging.splice(0)) resume();
    },
    advance: (ms: number) => {
      offset += ms;
    },
  };
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
    it("a route's key source wins over the mount's; the mount's routes keep Idempotency-Key", async () => {
      const { post, runs } = await start(express);
      const first = await read(await post('/orders', { 'x-request-id': 'r-1' }));
      expect(first).toMatchObject({
        status: 201,
        replayed: null,
        body: { run: 1, protected: true },
      });
      const retry = await read(await post('/orders', { 'x-request-id': 'r-1' }));
      expect(retry).toEqual({ ...first, replayed: 'true' });
      expect((await read(await post('/orders', { 'x-request-id': 'r-2' }))).body.run).toBe(2);
      // The route no longer reads Idempotency-Key, and says where it looks.
      const wrongHeader = await read(await post('/orders', { 'idempotency-key': 'r-1' }));
      expect(wrongHeader.status).toBe(400);
      expect(wrongHeader.body.detail).toMatch(/in the x-request-id header/);
      expect(runs('orders')).toBe(2);

      // The mount's routes are untouched: Idempotency-Key, not x-request-id.
      const mountWrong = await read(await post('/payments/charge', { 'x-request-id': 'r-1' }));
      expect(mountWrong.status).toBe(400);
      expect(mountWrong.body.detail).toMatch(/in the Idempotency-Key header/);
      const charge = await read(await post('/payments/charge', { 'idempotency-key': 'c-1' }));
      expect(charge).toMatchObject({ status: 201, replayed: null, body: { run: 1 } });
      const chargeRetry = await read(await post('/payments/charge', { 'idempotency-key': 'c-1' }));
      expect(chargeRetry).toEqual({ ...charge, replayed: 'true' });
      expect(runs('charge')).toBe(1);
    });

    it('required: false on a route lets keyless requests through; the mount still answers 400', async () => {
      const { post, runs } = await start(express);
      for (const run of [1, 2]) {
        const keyless = await read(await post('/drafts'));
        expect(keyless).toMatchObject({
          status: 201,
          replayed: null,
          body: { run, protected: false },
        });
      }
      // With a key the route is still protected (the rest comes from the mount).
      await post('/drafts', { 'idempotency-key': 'd-1' });
      const retry = await read(await post('/drafts', { 'idempotency-key': 'd-1' }));
      expect(retry).toMatchObject({ status: 201, replayed: 'true', body: { run: 3 } });
      expect(runs('drafts')).toBe(3);

      for (const path of ['/payments/charge', '/payments/refund']) {
        const refused = await read(await post(path));
        expect(refused.status, path).toBe(400);
        expect(refused.body.type, path).toBe('urn:idem:problem:key-missing');
      }
      expect(runs('charge') + runs('refund')).toBe(0);
    });

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

    it('routes left out run on every retry without Idempotent-Replayed; protected routes replay', async () => {
      const { post, runs } = await start(express);
      const key = { 'idempotency-key': 's-1' };
      // Not mounted at all.
      for (const run of [1, 2]) {
        const res = await read(await post('/search', key));
        expect(res).toMatchObject({ status: 201, replayed: null, body: { run, protected: false } });
      }
      // A route whose own `skip` leaves dry runs out.
      for (const run of [1, 2]) {
        const res = await read(await post('/exports?dryRun=1', key));
        expect(res).toMatchObject({ status: 201, replayed: null, body: { run, protected: false } });
      }
      const exported = await read(await post('/exports', { 'idempotency-key': 'x-1' }));
      expect(exported).toMatchObject({ replayed: null, body: { run: 3, protected: true } });
      expect(await read(await post('/exports', { 'idempotency-key': 'x-1' }))).toMatchObject({
        replayed: 'true',
        body: { run: 3 },
      });
      expect(runs('search')).toBe(2);
      expect(runs('exports')).toBe(3);

      await post('/payments/refund', key);
      const replay = await read(await post('/payments/refund', key));
      expect(replay).toMatchObject({ status: 201, replayed: 'true', body: { run: 1 } });
      expect(runs('refund')).toBe(1);
    });

    it("ttlMs as a function of a route's request: its results expire on that schedule, the mount's keep theirs", async () => {
      const { post, runs, ttlCalls, advance } = await start(express);
      const trial = { 'idempotency-key': 't-1', 'x-plan': 'trial' };
      const paid = { 'idempotency-key': 't-2', 'x-plan': 'paid' };
      const mount = { 'idempotency-key': 't-3', 'x-plan': 'trial' };
      await post('/reports', trial);
      await post('/reports', paid);
      await post('/payments/charge', mount);
      expect((await read(await post('/reports', trial))).replayed).toBe('true');
      expect(ttlCalls).toEqual([
        { path: '/reports', header: 'trial' },
        { path: '/reports', header: 'paid' },
        { path: '/reports', header: 'trial' },
      ]);

      advance(60_000);
      // The trial's minute is over: its retry runs again. The others still replay.
      expect(await read(await post('/reports', trial))).toMatchObject({
        replayed: null,
        body: { run: 3 },
      });
      expect(await read(await post('/reports', paid))).toMatchObject({
        replayed: 'true',
        body: { run: 2 },
      });
      expect(await read(await post('/payments/charge', mount))).toMatchObject({
        replayed: 'true',
        body: { run: 1 },
      });
      expect(runs('reports')).toBe(3);
      expect(runs('charge')).toBe(1);
    });

    it("leaseMs as a function of a route's request: a duplicate gets 409 until that lease runs out", async () => {
      const { post, runs, leaseCalls, hanging, resume, advance } = await start(express);
      const exportJob = { 'idempotency-key': 'j-1', 'x-job': 'export' };
      const importJob = { 'idempotency-key': 'j-2', 'x-job': 'import' };
      const mount = { 'idempotency-key': 'j-3' };
      // Three handlers that hang: two under the route's leases (10 s, 40 s), one under the mount's (30 s).
      const firsts = [
        post('/jobs?hang=1', exportJob),
        post('/jobs?hang=1', importJob),
        post('/payments/refund?hang=1', mount),
      ];
      await until(() => hanging() === 3);
      expect(leaseCalls).toEqual([
        { path: '/jobs?hang=1', header: 'export' },
        { path: '/jobs?hang=1', header: 'import' },
      ]);
      for (const [path, headers] of [
        ['/jobs?hang=1', exportJob],
        ['/jobs?hang=1', importJob],
        ['/payments/refund?hang=1', mount],
      ] as const) {
        const duplicate = await post(path, headers);
        expect(duplicate.status, path).toBe(409);
        // Retry-After is the engine's retryAfterSeconds (1), well within every lease.
        expect(duplicate.headers.get('retry-after'), path).toBe('1');
        expect(await duplicate.json()).toMatchObject({
          type: 'urn:idem:problem:request-in-flight',
        });
      }

      // Past the export's 10 s lease only (the store's clock; renewals are due every 3.3 s of real time).
      advance(12_000);
      const takeover = await read(await post('/jobs?hang=1', exportJob));
      expect(takeover).toMatchObject({ status: 201, replayed: null, body: { run: 3 } });
      expect((await post('/jobs?hang=1', importJob)).status).toBe(409);
      expect((await post('/payments/refund?hang=1', mount)).status).toBe(409);
      expect(runs('jobs')).toBe(3);
      expect(runs('refund')).toBe(1);

      resume();
      expect((await Promise.all(firsts)).map((res) => res.status)).toEqual([201, 201, 201]);
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
