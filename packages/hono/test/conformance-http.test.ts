import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  httpSuite,
  READ_FIRST,
} from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import { type Context, Hono } from 'hono';
import { afterAll } from 'vitest';
import { idempotency } from '../src/index.js';

// The memory store and Redis (CI=true: Redis must answer): this suite proves the
// adapter's translation. Every other store runs the same suite end to end through
// the reference server, in its own package (test/conformance-http.test.ts).
const stores = await reachableStores({ label: 'hono', only: ['memory', 'redis'] });
afterAll(() => stores.close());

const encoder = new TextEncoder();

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

/** The suite's route contract on Hono, served by @hono/node-server. */
async function honoServer({ options, routeOptions, enter }: HttpTestApp) {
  const app = new Hono();
  // Hono's default error handler, minus its console.error: the suite throws on purpose.
  app.onError((_error, c) => c.text('Internal Server Error', 500));
  // A middleware before idem that reads the body, as a signature check or a validator does.
  app.use('/parsed', async (c, next) => {
    if (c.req.header(READ_FIRST) !== undefined) await parsedBody(c);
    await next();
  });
  const headersOf = (c: Context) => (name: string) => c.req.header(name);
  const idem = idempotency(frameworkOptions(options, headersOf));
  // The mount on every route but `/own`, which takes idem.route() instead.
  app.use((c, next) => (c.req.path === '/own' ? next() : idem(c, next)));
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
  app.all('/own', idem.route(frameworkOptions(routeOptions, headersOf)), echo('own'));
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
  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>(
    (resolve) => {
      const server = serve(
        { fetch: app.fetch, port: 0, hostname: '127.0.0.1' },
        (info: AddressInfo) => resolve({ server, port: info.port }),
      );
    },
  );
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      if ('closeAllConnections' in server) server.closeAllConnections();
      server.close();
    },
  };
}

httpSuite({
  name: 'hono on @hono/node-server',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: honoServer,
});
