import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpIdempotency, type HttpResponse } from '@idem/core/http';
import { captureNodeResponse, nodeHttpRequest, sendNodeResponse } from '@idem/core/node';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  READ_FIRST,
  type TestServer,
} from '../src/http.js';

export { referenceStore } from '../src/http/reference-store.js';

/** A deliberate mistake an adapter could make; the suite must catch each. */
export type Flaw =
  | 'none'
  | 'no replay marker'
  | 'replay drops a header'
  | 'body not fingerprinted'
  | 'scope ignored'
  | '5xx stored'
  | 'Set-Cookie replayed'
  | 'nothing covered'
  | 'a body read first is lost'
  | 'route options ignored'
  | 'body limit decided first'
  | 'logger ignored';

/** What an app makes of a body, by its content type (the contract of `/parsed`). */
function parse(bytes: Buffer, contentType = ''): unknown {
  if (contentType.startsWith('application/json')) return JSON.parse(bytes.toString('utf8'));
  if (contentType.startsWith('text/plain')) return bytes.toString('utf8');
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(bytes.toString('utf8')));
  }
  return [...bytes];
}

const readBody = async (req: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/**
 * A bare `node:http` server on `@idem/core/http`'s Node helpers: the reference
 * adapter the suite tests itself against, with an optional flaw.
 */
export function referenceServer(flaw: Flaw = 'none') {
  return async ({ options, routeOptions, enter }: HttpTestApp): Promise<TestServer> => {
    const headersOf = (req: IncomingMessage) => (name: string) =>
      req.headers[name.toLowerCase()] as string | undefined;
    const http = createHttpIdempotency<IncomingMessage>({
      ...frameworkOptions(options, headersOf),
      ...(flaw === 'scope ignored' && options.scope ? { scope: () => '' } : {}),
      ...(flaw === '5xx stored' ? { shouldStore: () => true } : {}),
      ...(flaw === 'Set-Cookie replayed' ? { replaySetCookie: true } : {}),
      ...(flaw === 'nothing covered' ? { methods: [] } : {}),
      // As an adapter that builds its own options and forgets this one: idem falls back to console.
      ...(flaw === 'logger ignored' ? { logger: undefined } : {}),
    });
    // `/own` takes the route's options over the mount's.
    const own =
      flaw === 'route options ignored'
        ? http.base
        : http.route(frameworkOptions(routeOptions, headersOf), '/own');

    const routes = async (res: ServerResponse, url: URL, body: () => Promise<Buffer>) => {
      switch (url.pathname) {
        case '/echo':
        case '/own': {
          const run = await enter(url.pathname === '/own' ? 'own' : 'echo');
          const bytes = await body();
          res.statusCode = Number(url.searchParams.get('status') ?? 200);
          res.setHeader(
            'content-type',
            res.req.headers['content-type'] ?? 'application/octet-stream',
          );
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
          for (let at = 0; at < bytes.byteLength; at += chunk) {
            res.write(bytes.subarray(at, at + chunk));
          }
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
    };

    const server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://reference');
      // Read once: for the fingerprint when idem covers the request, else for the route.
      let read: Promise<Buffer> | undefined;
      const body = () => {
        read ??= readBody(req);
        return read;
      };
      // `/parsed` with READ_FIRST: the app reads the body before idem runs.
      const readFirst = url.pathname === '/parsed' && req.headers[READ_FIRST] !== undefined;
      if (readFirst) await body();
      const fingerprinted = async (limit: number) => {
        if (flaw === 'body not fingerprinted') return new Uint8Array(0);
        if (flaw === 'a body read first is lost' && readFirst) return new Uint8Array(0);
        const bytes = await body();
        return bytes.byteLength > limit ? undefined : bytes;
      };
      const route = url.pathname === '/own' ? own : http.base;
      if (
        flaw === 'body limit decided first' &&
        // As an adapter that reads the limit off its own options: the route is opaque.
        Number(req.headers['content-length'] ?? 0) >
          ((url.pathname === '/own' ? routeOptions.maxRequestBytes : undefined) ??
            options.maxRequestBytes ??
            1024 * 1024)
      ) {
        return sendNodeResponse(res, http.tooLarge(route));
      }
      const decision = await http.handle(
        nodeHttpRequest(req, req.url ?? '/', fingerprinted),
        req,
        undefined,
        route,
      );
      if (decision.kind === 'respond') {
        return sendNodeResponse(res, flawed(decision.response, decision.replayed));
      }
      if (decision.kind === 'execute') {
        captureNodeResponse(res, decision, { limit: http.maxResponseBytes });
      }
      try {
        await routes(res, url, body);
      } catch {
        // What a framework's error handler does: a 500, which releases the key.
        res.statusCode = 500;
        res.end('internal error');
      }
    });

    function flawed(response: HttpResponse, replayed: boolean): HttpResponse {
      if (!replayed) return response;
      if (flaw === 'no replay marker') {
        return {
          ...response,
          headers: response.headers.filter(([n]) => n !== 'idempotent-replayed'),
        };
      }
      if (flaw === 'replay drops a header') {
        return { ...response, headers: response.headers.filter(([n]) => n !== 'x-multi') };
      }
      return response;
    }

    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        server.closeAllConnections();
        server.close();
      },
    };
  };
}
