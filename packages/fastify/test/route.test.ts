import { memoryStore } from '@idem/store-memory';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteShorthandOptions,
} from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

// Per-route options over real HTTP: the plugin's options on the app, and
// routes with options of their own (`config: { idempotency: {...} }`) or left
// out (`config: { idempotency: false }`), added after the plugin or before it.

const apps: FastifyInstance[] = [];
const hanging: Array<() => void> = [];
afterEach(async () => {
  for (const resume of hanging.splice(0)) resume();
  for (const app of apps.splice(0)) await app.close();
});

/** Calls of the routes' `ttlMs` and `leaseMs` functions: the request they were given. */
interface Seen {
  readonly url: string;
  readonly header: string | undefined;
}

const headerOf = (request: FastifyRequest, name: string) => {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

/**
 * The app: `/payments/*` under the plugin's options; `/orders`,
 * `/early-orders` (added before the plugin), `/drafts`, `/exports`,
 * `/reports` and `/jobs` with options of their own; `/search` and
 * `/early-search` left out. The store's clock is `Date.now() + advance(ms)`.
 */
async function start() {
  let offset = 0;
  const store = memoryStore({ now: () => Date.now() + offset });
  const runs: Record<string, number> = {};
  const ttlCalls: Seen[] = [];
  const leaseCalls: Seen[] = [];
  const hung = new Set<string>();
  const seen = (request: FastifyRequest, header: string) => ({
    url: request.url,
    header: headerOf(request, header),
  });

  const handler = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const run = (runs[name] ?? 0) + 1;
    runs[name] = run;
    // Under ?hang=1, the first run with a key hangs until the test lets it go.
    const key = `${name} ${headerOf(request, 'idempotency-key')}`;
    if ((request.query as { hang?: string }).hang === '1' && !hung.has(key)) {
      hung.add(key);
      await new Promise<void>((resolve) => hanging.push(resolve));
    }
    return reply.code(201).send({ route: name, run, protected: request.idempotency !== undefined });
  };
  const own = (idempotency: NonNullable<RouteShorthandOptions['config']>['idempotency']) => ({
    config: { idempotency },
  });

  const app = Fastify();
  apps.push(app);
  // Added before the plugin: resolved on their first request.
  app.post('/early-orders', own({ key: 'x-request-id' }), handler('early-orders'));
  app.post('/early-search', own(false), handler('early-search'));
  await app.register(idempotency, { store, scope: () => 'tenant', logger: false });
  app.post('/payments/charge', handler('charge'));
  app.post('/payments/refund', handler('refund'));
  app.post('/orders', own({ key: 'x-request-id' }), handler('orders'));
  app.post('/drafts', own({ required: false }), handler('drafts'));
  app.post('/search', own(false), handler('search'));
  app.post(
    '/exports',
    own({ skip: (request) => (request.query as { dryRun?: string }).dryRun === '1' }),
    handler('exports'),
  );
  app.post(
    '/reports',
    own({
      ttlMs: (request) => {
        ttlCalls.push(seen(request, 'x-plan'));
        return headerOf(request, 'x-plan') === 'trial' ? 60_000 : 3_600_000;
      },
    }),
    handler('reports'),
  );
  app.post(
    '/jobs',
    own({
      leaseMs: (request) => {
        leaseCalls.push(seen(request, 'x-job'));
        return headerOf(request, 'x-job') === 'export' ? 10_000 : 40_000;
      },
    }),
    handler('jobs'),
  );

  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{"amount":1}',
    });
  return {
    post,
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

describe('@idem/fastify per-route options', () => {
  it.each([
    ['/orders', 'orders'],
    ['/early-orders', 'early-orders'],
  ])(
    "%s: a route's key source wins over the plugin's; the plugin's routes keep Idempotency-Key",
    async (path, name) => {
      const { post, runs } = await start();
      const first = await read(await post(path, { 'x-request-id': 'r-1' }));
      expect(first).toMatchObject({
        status: 201,
        replayed: null,
        body: { run: 1, protected: true },
      });
      const retry = await read(await post(path, { 'x-request-id': 'r-1' }));
      expect(retry).toEqual({ ...first, replayed: 'true' });
      expect((await read(await post(path, { 'x-request-id': 'r-2' }))).body.run).toBe(2);
      // The route no longer reads Idempotency-Key, and says where it looks.
      const wrongHeader = await read(await post(path, { 'idempotency-key': 'r-1' }));
      expect(wrongHeader.status).toBe(400);
      expect(wrongHeader.body.detail).toMatch(/in the x-request-id header/);
      expect(runs(name)).toBe(2);

      // The plugin's routes are untouched: Idempotency-Key, not x-request-id.
      const mountWrong = await read(await post('/payments/charge', { 'x-request-id': 'r-1' }));
      expect(mountWrong.status).toBe(400);
      expect(mountWrong.body.detail).toMatch(/in the Idempotency-Key header/);
      const charge = await read(await post('/payments/charge', { 'idempotency-key': 'c-1' }));
      expect(charge).toMatchObject({ status: 201, replayed: null, body: { run: 1 } });
      const chargeRetry = await read(await post('/payments/charge', { 'idempotency-key': 'c-1' }));
      expect(chargeRetry).toEqual({ ...charge, replayed: 'true' });
      expect(runs('charge')).toBe(1);
    },
  );

  it("required: false on a route lets keyless requests through; the plugin's routes still answer 400", async () => {
    const { post, runs } = await start();
    for (const run of [1, 2]) {
      const keyless = await read(await post('/drafts'));
      expect(keyless).toMatchObject({
        status: 201,
        replayed: null,
        body: { run, protected: false },
      });
    }
    // With a key the route is still protected (the rest comes from the plugin).
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

  it('routes left out run on every retry without Idempotent-Replayed; protected routes replay', async () => {
    const { post, runs } = await start();
    const key = { 'idempotency-key': 's-1' };
    // config: { idempotency: false }, added after the plugin and before it.
    for (const [path, name] of [
      ['/search', 'search'],
      ['/early-search', 'early-search'],
    ] as const) {
      for (const run of [1, 2]) {
        const res = await read(await post(path, key));
        expect(res, path).toMatchObject({
          status: 201,
          replayed: null,
          body: { run, protected: false },
        });
      }
      expect(runs(name)).toBe(2);
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
    expect(runs('exports')).toBe(3);

    await post('/payments/refund', key);
    const replay = await read(await post('/payments/refund', key));
    expect(replay).toMatchObject({ status: 201, replayed: 'true', body: { run: 1 } });
    expect(runs('refund')).toBe(1);
  });

  it("ttlMs as a function of a route's request: its results expire on that schedule, the plugin's keep theirs", async () => {
    const { post, runs, ttlCalls, advance } = await start();
    const trial = { 'idempotency-key': 't-1', 'x-plan': 'trial' };
    const paid = { 'idempotency-key': 't-2', 'x-plan': 'paid' };
    const mount = { 'idempotency-key': 't-3', 'x-plan': 'trial' };
    await post('/reports', trial);
    await post('/reports', paid);
    await post('/payments/charge', mount);
    expect((await read(await post('/reports', trial))).replayed).toBe('true');
    expect(ttlCalls).toEqual([
      { url: '/reports', header: 'trial' },
      { url: '/reports', header: 'paid' },
      { url: '/reports', header: 'trial' },
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
    const { post, runs, leaseCalls, hanging, resume, advance } = await start();
    const exportJob = { 'idempotency-key': 'j-1', 'x-job': 'export' };
    const importJob = { 'idempotency-key': 'j-2', 'x-job': 'import' };
    const mount = { 'idempotency-key': 'j-3' };
    // Three handlers that hang: two under the route's leases (10 s, 40 s), one under the plugin's (30 s).
    const firsts = [
      post('/jobs?hang=1', exportJob),
      post('/jobs?hang=1', importJob),
      post('/payments/refund?hang=1', mount),
    ];
    await until(() => hanging() === 3);
    expect(leaseCalls).toEqual([
      { url: '/jobs?hang=1', header: 'export' },
      { url: '/jobs?hang=1', header: 'import' },
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
      expect(await duplicate.json()).toMatchObject({ type: 'urn:idem:problem:request-in-flight' });
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
});
