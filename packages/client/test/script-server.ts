import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the server received it. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** How the server answers one request. */
export type Reply =
  | {
      readonly status: number;
      readonly headers?: Record<string, string>;
      readonly body?: string;
      /** Send the headers and this much of the body, then reset the connection. */
      readonly breakAfter?: number;
    }
  | { readonly destroy: true }
  | { readonly hangMs: number; readonly after?: Reply };

/** A running {@link scriptServer}. */
export interface ScriptServer {
  readonly url: string;
  /** Every request received, in order. */
  readonly received: Received[];
  close(): Promise<void>;
}

/**
 * A real HTTP server whose answers a test scripts request by request: the
 * `n`-th request (from 0) gets `answer(request, n)`. Every request is kept.
 */
export async function scriptServer(
  answer: (request: Received, n: number) => Reply,
): Promise<ScriptServer> {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: Received = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    received.push(request);
    let reply = answer(request, received.length - 1);
    while ('hangMs' in reply) {
      const ms = reply.hangMs;
      await new Promise((r) => setTimeout(r, ms));
      if (!reply.after || res.destroyed) return;
      reply = reply.after;
    }
    if ('destroy' in reply) {
      req.socket.destroy();
      return;
    }
    const body = Buffer.from(reply.body ?? '');
    res.writeHead(reply.status, { 'content-length': body.byteLength, ...reply.headers });
    if (reply.breakAfter === undefined) {
      res.end(body);
      return;
    }
    res.write(body.subarray(0, reply.breakAfter), () => req.socket.resetAndDestroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
