import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { IdempotencyHooks, Store } from '@idem/core';
import { idempotency as expressIdempotency } from '@idem/express';
import { idempotency as fastifyIdempotency } from '@idem/fastify';
import { idempotency as honoIdempotency } from '@idem/hono';
import { context, ROOT_CONTEXT, SpanKind, type Tracer, trace } from '@opentelemetry/api';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';

/** What every test app is made with. */
export interface AppOptions {
  readonly store: Store;
  readonly hooks: IdempotencyHooks;
  /** Makes the server span of each request, as an HTTP instrumentation does. */
  readonly tracer: Tracer;
  /** `/hold/:id` answers once this resolves. */
  readonly held: () => Promise<void>;
}

/** A test app listening on a loopback port. */
export interface Running {
  readonly url: string;
  close(): Promise<void>;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** The header that names a request, so a test finds its server span. */
export const REQUEST_HEADER = 'x-request';

/**
 * Each request runs in the context of a server span of its own, ended when
 * the response is closed: what `@opentelemetry/instrumentation-http` does
 * for a real app.
 */
function traced(tracer: Tracer, listener: Listener): Listener {
  return (req, res) => {
    const span = tracer.startSpan(`${req.method} ${req.url}`, {
      kind: SpanKind.SERVER,
      attributes: { 'test.request': String(req.headers[REQUEST_HEADER]) },
    });
    res.on('close', () => span.end());
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => listener(req, res));
  };
}

async function listen(server: Server): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const BIG = 'x'.repeat(200);
// Small enough that /big is "ran, not stored", large enough for the rest.
const MAX_RESPONSE_BYTES = 100;
const common = (o: AppOptions) => ({
  store: o.store,
  hooks: o.hooks,
  logger: false as const,
  scope: () => 'acme',
  maxResponseBytes: MAX_RESPONSE_BYTES,
});

function hono(o: AppOptions): Promise<Running> {
  const app = new Hono();
  app.use(honoIdempotency(common(o)));
  app.post('/payments/:id', (c) => c.json({ id: c.req.param('id') }, 201));
  app.post('/hold/:id', async (c) => {
    await o.held();
    return c.json({ held: c.req.param('id') });
  });
  app.post('/fail', () => {
    throw new Error('boom');
  });
  app.post('/big', (c) => c.text(BIG));
  app.onError((_error, c) => c.text('Internal Server Error', 500)); // without the console noise
  return listen(createServer(traced(o.tracer, getRequestListener(app.fetch))));
}

function expressApp(o: AppOptions): Promise<Running> {
  const app = express();
  app.use(expressIdempotency(common(o)));
  app.post('/payments/:id', (req, res) => {
    res.status(201).json({ id: req.params.id });
  });
  app.post('/hold/:id', async (req, res) => {
    await o.held();
    res.json({ held: req.params.id });
  });
  app.post('/fail', () => {
    throw new Error('boom');
  });
  app.post('/big', (_req, res) => {
    res.type('text/plain').send(BIG);
  });
  // Express's own error handling answers the throw with a 500; keep its log quiet.
  app.use((_error: unknown, _req: express.Request, res: express.Response, _next: unknown) => {
    res.status(500).send('Internal Server Error');
  });
  return listen(createServer(traced(o.tracer, app)));
}

async function fastify(o: AppOptions): Promise<Running> {
  let server: Server | undefined;
  const app = Fastify({
    serverFactory: (handler) => {
      server = createServer(traced(o.tracer, handler));
      return server;
    },
  });
  await app.register(fastifyIdempotency, common(o));
  app.post('/payments/:id', async (request, reply) =>
    reply.code(201).send({ id: (request.params as { id: string }).id }),
  );
  app.post('/hold/:id', async (request) => {
    await o.held();
    return { held: (request.params as { id: string }).id };
  });
  app.post('/fail', async () => {
    throw new Error('boom');
  });
  app.post('/big', async (_request, reply) => reply.type('text/plain').send(BIG));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    async close() {
      server?.closeAllConnections();
      await app.close();
    },
  };
}

/** An adapter under test, and what its hook events tell. */
export interface Adapter {
  readonly name: string;
  start(options: AppOptions): Promise<Running>;
  /** Whether events carry the route pattern (Express's middleware runs before routing). */
  readonly routes: boolean;
  /** The outcome of a handler that throws. */
  readonly throwIs: 'failed' | 'executed_not_stored';
}

/** The three adapters. */
export const ADAPTERS: readonly Adapter[] = [
  { name: 'hono', start: hono, routes: true, throwIs: 'failed' },
  // Express gives middleware no view of a throw: its error handling's 500 is
  // an answer not kept, so the key is released as for any 5xx.
  { name: 'express', start: expressApp, routes: false, throwIs: 'executed_not_stored' },
  { name: 'fastify', start: fastify, routes: true, throwIs: 'failed' },
];
