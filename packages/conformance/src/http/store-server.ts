import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpIdempotency } from '@idem/core/http';
import { captureNodeResponse, nodeHttpRequest, sendNodeResponse } from '@idem/core/node';
import type { Store } from '@idem/core/store';
import { httpSuite } from '../http.js';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  READ_FIRST,
  type TestServer,
} from './contract.js';
import type { HttpSuiteOptions } from './options.js';

/** What an app makes of a body, by its content type (the contract of `/parsed`). */
function parse(bytes: Buffer, contentType = ''): unknown {
  if (contentType.startsWith('application/json')) return JSON.parse(bytes.toString('utf8'));
  if (contentType.startsWith('text/plain')) return bytes.toString('utf8');
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(bytes.toString('utf8')));
  }
  return [...bytes];
}

/** The whole request body. Exported for this package's own tests, not from its entry points. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The routes of `RouteName`, as the suite expects them to answer. Exported
 * for this package's own tests (the flawed adapters), not from its entry points.
 */
export async function routes(
  res: ServerResponse,
  url: URL,
  body: () => Promise<Buffer>,
  enter: HttpTestApp['enter'],
): Promise<void> {
  switch (url.pathname) {
    case '/echo':
    case '/own': {
      const run = await enter(url.pathname === '/own' ? 'own' : 'echo');
      const bytes = await body();
      res.statusCode = Number(url.searchParams.get('status') ?? 200);
      res.setHeader('content-type', res.req.headers['content-type'] ?? 'application/octet-stream');
      res.setHeader('x-run', String(run));
      res.setHeader('set-cookie', `run=${run}`);
      res.setHeader('x-multi', ['one', 'two']);
      return void res.end(bytes);
    }
    case '/bytes': {
      await enter('bytes');
      const bytes = fixtureBytes(Number(url.searchParams.get('size')));
      res.setHeader('content-type', 'application/octet-stream');
      const chunk = Number(url.searchParams.get('chunk') ?? 0);
      if (!chunk) return void res.end(bytes);
      for (let at = 0; at < bytes.byteLength; at += chunk)
        res.write(bytes.subarray(at, at + chunk));
      return void res.end();
    }
    case '/events':
      await enter('events');
      res.setHeader('content-type', 'text/event-stream');
      for (const event of EVENTS) res.write(event);
      return void res.end();
    case '/empty':
      await enter('empty');
      res.statusCode = 204;
      return void res.end();
    case '/parsed': {
      const run = await enter('parsed');
      const parsed = parse(await body(), res.req.headers['content-type']);
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-run', String(run));
      return void res.end(JSON.stringify({ body: parsed }));
    }
    case '/throw':
      await enter('throw');
      if (url.searchParams.has('async')) await Promise.resolve();
      throw new Error('boom');
    default:
      res.statusCode = 404;
      res.end();
  }
}

/**
 * A `createServer` for {@link httpSuite} with no framework: a bare
 * `node:http` server on `@idem/core/http` and `@idem/core/node`, the layer
 * every adapter translates to. A store author runs the HTTP suite on a store
 * with it (or with {@link storeHttpSuite}), with no adapter to wire.
 */
export async function referenceServer(app: HttpTestApp): Promise<TestServer> {
  const headersOf = (req: IncomingMessage) => (name: string) =>
    req.headers[name.toLowerCase()] as string | undefined;
  const { options, routeOptions, enter } = app;
  const http = createHttpIdempotency<IncomingMessage>(frameworkOptions(options, headersOf));
  // `/own` takes the route's options over the mount's.
  const own = http.route(frameworkOptions(routeOptions, headersOf), '/own');

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://reference');
    // Read once: for the fingerprint when idem covers the request, else for the route.
    let read: Promise<Buffer> | undefined;
    const body = () => {
      read ??= readBody(req);
      return read;
    };
    // `/parsed` with READ_FIRST: the app reads the body before idem runs.
    if (url.pathname === '/parsed' && req.headers[READ_FIRST] !== undefined) await body();
    const fingerprinted = async (limit: number) => {
      const bytes = await body();
      return bytes.byteLength > limit ? undefined : bytes;
    };
    const decision = await http.handle(
      nodeHttpRequest(req, req.url ?? '/', fingerprinted),
      req,
      undefined,
      url.pathname === '/own' ? own : http.base,
    );
    if (decision.kind === 'respond') return sendNodeResponse(res, decision.response);
    if (decision.kind === 'execute') {
      captureNodeResponse(res, decision, { limit: http.maxResponseBytes });
    }
    try {
      await routes(res, url, body, enter);
    } catch {
      // What a framework's error handler does: a 500, which releases the key.
      res.statusCode = 500;
      res.end('internal error');
    }
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Options of {@link storeHttpSuite}: {@link HttpSuiteOptions} with one store and no server to write. */
export interface StoreHttpSuiteOptions
  extends Omit<HttpSuiteOptions, 'createServer' | 'stores' | 'skipStores'> {
  /** A store to run a check on; called once or more per check. Keys never repeat, so a shared client is fine. */
  readonly createStore: () => Store | Promise<Store>;
}

/**
 * The HTTP suite on a store, end to end, without an adapter: every HTTP
 * answer of docs/SEMANTICS.md through {@link referenceServer}, with the
 * store's records in between.
 *
 * ```ts
 * storeHttpSuite({ name: 'redis', createStore: () => redisStore({ client }) });
 * ```
 */
export function storeHttpSuite(options: StoreHttpSuiteOptions): void {
  const { createStore, ...rest } = options;
  httpSuite({ ...rest, stores: { [options.name]: createStore }, createServer: referenceServer });
}
