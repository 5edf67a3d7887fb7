import { memoryStore } from '@idem/store-memory';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteShorthandOptions,
} from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

// What route options do (key sources, required, skip, keyFormat, fingerprints,
// ttlMs and leaseMs, the body limit among them), on the plugin and on a route
// with `config: { idempotency: {...} }`, is the shared suite's
// (@idem/conformance/http, group `routes`): see conformance-http.test.ts.
// Here: what is Fastify's own, routes added before the plugin, routes left
// out with `config: { idempotency: false }`, and what `skip` and a key
// function see when core asks them in `preParsing`, before the body is parsed.

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the test's onRequest hook, as an authentication hook would. */
    account?: string;
  }
}

/**
 * The app: `/payments/charge` under the plugin's options; `/early-orders`
 * (added before the plugin) with options of its own; `/search` and
 * `/early-search` left out; `/exports`, whose `skip` and key function read
 * what an onRequest hook set, and note the body they were given.
 */
async function start() {
  const runs: Record<string, number> = {};
  const bodies: unknown[] = [];
  const handler = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const run = (runs[name] ?? 0) + 1;
    runs[name] = run;
    return reply.code(201).send({ route: name, run, protected: request.idempotency !== undefined });
  };
  const own = (idempotency: NonNullable<RouteShorthandOptions['config']>['idempotency']) => ({
    config: { idempotency },
  });

  const app = Fastify();
  apps.push(app);
  app.decorateRequest('account', undefined);
  app.addHook('onRequest', async (request) => {
    request.account = request.headers['x-account'] as string | undefined;
  });
  // Added before the plugin: resolved on their first request.
  app.post('/early-orders', own({ key: 'x-request-id' }), handler('early-orders'));
  app.post('/early-search', own(false), handler('early-search'));
  await app.register(idempotency, { store: memoryStore(), scope: () => 'tenant', logger: false });
  app.post('/payments/charge', handler('charge'));
  app.post('/search', own(false), handler('search'));
  app.post(
    '/exports',
    own({
      skip: (request) => {
        bodies.push(request.body);
        return request.account === 'internal';
      },
      key: (request) => {
        bodies.push(request.body);
        return request.account && `${request.account}:${request.headers['x-export']}`;
      },
    }),
    handler('exports'),
  );

  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{"amount":1}',
    });
  return { post, bodies, runs: (name: string) => runs[name] ?? 0 };
}

/** Status, `Idempotent-Replayed` and JSON body of a response. */
async function read(res: Response) {
  return {
    status: res.status,
    replayed: res.headers.get('idempotent-replayed'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

describe('@idem/fastify per-route options', () => {
  it("a route added before the plugin takes its own options; the plugin's routes keep theirs", async () => {
    const { post, runs } = await start();
    const first = await read(await post('/early-orders', { 'x-request-id': 'r-1' }));
    expect(first).toMatchObject({ status: 201, replayed: null, body: { run: 1, protected: true } });
    const retry = await read(await post('/early-orders', { 'x-request-id': 'r-1' }));
    expect(retry).toEqual({ ...first, replayed: 'true' });
    // The route no longer reads Idempotency-Key, and says where it looks.
    const wrongHeader = await read(await post('/early-orders', { 'idempotency-key': 'r-2' }));
    expect(wrongHeader.status).toBe(400);
    expect(wrongHeader.body.detail).toMatch(/in the x-request-id header/);
    expect(runs('early-orders')).toBe(1);

    const mountWrong = await read(await post('/payments/charge', { 'x-request-id': 'r-1' }));
    expect(mountWrong.status).toBe(400);
    expect(mountWrong.body.detail).toMatch(/in the Idempotency-Key header/);
  });

  it('routes left out, added after the plugin or before it, run on every retry without Idempotent-Replayed', async () => {
    const { post, runs } = await start();
    const key = { 'idempotency-key': 's-1' };
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
      // Nor is a missing key refused.
      expect((await post(path)).status, path).toBe(201);
      expect(runs(name)).toBe(3);
    }
  });

  it('skip and a key function run before the body is parsed: they see what onRequest hooks set, not request.body', async () => {
    const { post, bodies, runs } = await start();
    const internal = { 'x-account': 'internal', 'x-export': 'e-1' };
    for (const run of [1, 2]) {
      expect(await read(await post('/exports', internal))).toMatchObject({
        replayed: null,
        body: { run, protected: false },
      });
    }
    const customer = { 'x-account': 'acme', 'x-export': 'e-1' };
    expect(await read(await post('/exports', customer))).toMatchObject({
      replayed: null,
      body: { run: 3, protected: true },
    });
    expect(await read(await post('/exports', customer))).toMatchObject({
      replayed: 'true',
      body: { run: 3 },
    });
    const anonymous = await read(await post('/exports', { 'x-export': 'e-1' }));
    expect(anonymous.status).toBe(400);
    expect(anonymous.body.type).toBe('urn:idem:problem:key-missing');
    expect(runs('exports')).toBe(3);
    // Called once per request, each before the body was parsed.
    expect(bodies).toEqual(Array(2 + 2 * 2 + 2).fill(undefined));
  });
});
