import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpIdempotency, type HttpResponse } from '@idem/core/http';
import { captureNodeResponse, nodeHttpRequest, sendNodeResponse } from '@idem/core/node';
import { frameworkOptions, type HttpTestApp, READ_FIRST, type TestServer } from '../src/http.js';

export { referenceStore } from '../src/http/reference-store.js';

import { readBody, routes } from '../src/http/store-server.js';

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
        await routes(res, url, body, enter);
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
