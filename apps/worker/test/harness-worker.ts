/**
 * The Worker the HTTP conformance suite runs against: Hono with idem and the
 * suite's routes (`RouteName`), inside workerd. One Worker serves every test
 * server the suite starts. Each test server needs an origin of its own (the
 * suite writes raw requests for `/echo` to its host and port), so the Worker
 * has {@link SLOTS} named entrypoints, `slot0`…, each on a loopback port of
 * its own (miniflare's `unsafeDirectSockets`). The test puts a server in a
 * slot with `PUT /__servers/<slot>` and a {@link ServerSpec}, on the default
 * entrypoint.
 *
 * What only the test (Node) can do goes through the `HARNESS` service binding:
 * counting and holding handler runs (`enter`), the suite's `scope` function,
 * and stores the suite built in Node (its broken store). Memory, DynamoDB,
 * D1 and Durable Objects stores are built here, inside the Worker.
 */

import { EVENTS, fixtureBytes, READ_FIRST, type RouteName } from '@idem/conformance/http/contract';
import type { Store } from '@idem/core';
import { idempotency } from '@idem/hono';
import { d1Store } from '@idem/store-d1';
import { durableObjectStore } from '@idem/store-durable-objects';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { memoryStore } from '@idem/store-memory';
import { type CallTest, specOptions, testCaller, testProcessStore } from '@idem/test-runtimes/app';
import { type Context, type ExecutionContext, Hono } from 'hono';
import { dynamoDbClient, type WorkerEnv } from '../src/store.js';
import type { ServerSpec, StoreSpec } from './protocol.js';

/** A service binding (workerd's `Fetcher`, the part used here). */
interface Fetcher {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

interface HarnessEnv extends WorkerEnv {
  readonly HARNESS: Fetcher;
}

let client: ReturnType<typeof dynamoDbClient> | undefined;

function storeOf(spec: StoreSpec, env: HarnessEnv, call: CallTest, id: string): Store {
  switch (spec.kind) {
    case 'memory':
      return memoryStore();
    case 'dynamodb':
      // One client per isolate, shared by every server, as an app would.
      client ??= dynamoDbClient(env);
      return dynamoDbStore({ client, tableName: spec.tableName });
    case 'd1':
      return d1Store({ database: env.IDEM_DB!, table: spec.table });
    case 'durable-objects':
      return durableObjectStore({ namespace: env.IDEMPOTENCY! });
    case 'node':
      return testProcessStore(call, id);
  }
}

function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** What `/parsed` reads, Hono's usual way by the content type; Hono keeps it in its body cache. */
async function parsedBody(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (type.startsWith('application/json')) return c.req.json();
  if (type.startsWith('text/plain')) return c.req.text();
  if (type.startsWith('application/x-www-form-urlencoded')) return c.req.parseBody();
  return [...new Uint8Array(await c.req.arrayBuffer())];
}

/** The suite's route contract on Hono: as packages/hono's own conformance test, but in workerd. */
function testApp(spec: ServerSpec, env: HarnessEnv): Hono {
  const { id } = spec;
  const call = testCaller('http://harness', (url, init) => env.HARNESS.fetch(url, init));
  const enter = async (route: RouteName) => Number(await call(`/enter/${id}/${route}`));
  const encoder = new TextEncoder();
  const app = new Hono();
  // Hono's default error handler, minus its console.error: the suite throws on purpose.
  app.onError((_error, c) => c.text('Internal Server Error', 500));
  // A middleware before idem that reads the body, as a signature check or a validator does.
  app.use('/parsed', async (c, next) => {
    if (c.req.header(READ_FIRST) !== undefined) await parsedBody(c);
    await next();
  });
  // The suite's functions of the request, its scope and its logger run in
  // the test: asked over the service binding.
  const options = specOptions(spec, call, (c: Context) => c.req.raw);
  app.use(async (c, next) => {
    await options.answer(c.req.raw);
    await next();
  });
  const idem = idempotency({ ...options.mount, store: storeOf(spec.store, env, call, id) });
  // The mount on every route but `/own`, which takes idem.route() instead.
  app.use((c: Context, next) => (c.req.path === '/own' ? next() : idem(c, next)));
  const echo = (route: 'echo' | 'own') => async (c: Context) => {
    const run = await enter(route);
    const body = new Uint8Array(await c.req.arrayBuffer());
    c.header('content-type', c.req.header('content-type') ?? 'application/octet-stream');
    c.header('x-run', String(run));
    c.header('set-cookie', `run=${run}`);
    c.header('x-multi', 'one');
    c.header('x-multi', 'two', { append: true });
    return c.body(body, Number(c.req.query('status') ?? 200) as 200);
  };
  app.all('/echo', echo('echo'));
  app.all('/own', idem.route(options.route), echo('own'));
  app.post('/bytes', async (c) => {
    await enter('bytes');
    const bytes = fixtureBytes(Number(c.req.query('size')));
    const chunk = Number(c.req.query('chunk') ?? 0);
    c.header('content-type', 'application/octet-stream');
    if (!chunk) return c.body(bytes as Uint8Array<ArrayBuffer>);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.byteLength; at += chunk)
      chunks.push(bytes.subarray(at, at + chunk));
    return c.body(streamOf(chunks));
  });
  app.post('/events', async (c) => {
    await enter('events');
    c.header('content-type', 'text/event-stream');
    return c.body(streamOf(EVENTS.map((e) => encoder.encode(e))));
  });
  app.post('/empty', async (c) => {
    await enter('empty');
    return c.body(null, 204);
  });
  app.post('/parsed', async (c) => {
    const run = await enter('parsed');
    c.header('x-run', String(run));
    return c.json({ body: await parsedBody(c) });
  });
  app.post('/throw', async (c) => {
    await enter('throw');
    if (c.req.query('async')) await Promise.resolve();
    throw new Error('boom');
  });
  return app;
}

// Test servers by slot. Module state lives as long as the isolate, and
// miniflare keeps one isolate per Worker, so every entrypoint finds them here.
const servers = new Map<number, Hono>();

type FetchHandler = (request: Request, env: HarnessEnv, ctx: ExecutionContext) => Promise<Response>;

function slot(n: number): { fetch: FetchHandler } {
  return {
    async fetch(request, env, ctx) {
      const app = servers.get(n);
      if (!app) return new Response(`no test server in slot ${n}`, { status: 404 });
      return app.fetch(request, env, ctx);
    },
  };
}

// The Durable Objects store's class, for the IDEMPOTENCY binding.
export { IdempotencyObject } from '@idem/store-durable-objects';

export const slot0 = slot(0);
export const slot1 = slot(1);
export const slot2 = slot(2);
export const slot3 = slot(3);

export default {
  async fetch(request: Request, env: HarnessEnv): Promise<Response> {
    const control = /^\/__servers\/(\d+)$/.exec(new URL(request.url).pathname);
    if (!control) return new Response('not found', { status: 404 });
    const n = Number(control[1]);
    if (request.method === 'PUT') {
      const spec: ServerSpec = await request.json();
      servers.set(n, testApp(spec, env));
    } else {
      servers.delete(n);
    }
    return new Response(null, { status: 204 });
  },
};
