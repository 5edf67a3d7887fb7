import type { BuildContext } from './context.js';
import { fetchApp } from './fetch.js';

/** What the bench uses of Bun's global (declared here: @types/bun would retype the whole app as Bun's). */
interface BunServe {
  serve(options: {
    port: number;
    hostname: string;
    fetch: (request: Request) => Response | Promise<Response>;
  }): { readonly port: number; stop(closeActiveConnections?: boolean): Promise<void> };
}

/** A server the bench can stop, whatever runs it. */
export interface Listening {
  readonly port: number;
  close(): void;
}

/** The Fetch handler on `Bun.serve`; `onPost` counts the POSTs it receives, as the Node servers' `request` event does. */
export function bunServer(ctx: BuildContext, onPost: () => void): Listening {
  const app = fetchApp(ctx);
  const { Bun } = globalThis as unknown as { Bun: BunServe };
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(request) {
      if (request.method === 'POST') onPost();
      return app(request);
    },
  });
  return { port: server.port, close: () => void server.stop(true) };
}
