import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { TestServer } from '@idem/conformance/http';

/**
 * A Fetch handler served on Node (@hono/node-server) on a loopback port:
 * its base URL, and a `close` that drops open connections first, so a check
 * that left a request hanging does not hold the server open.
 */
export function serveFetch(
  fetch: (request: Request) => Response | Promise<Response>,
): Promise<TestServer> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        async close() {
          if ('closeAllConnections' in server) server.closeAllConnections();
          await new Promise((closed) => server.close(closed));
        },
      }),
    );
  });
}
