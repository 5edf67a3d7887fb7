import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { BuildContext } from './context.js';
import { fetchApp } from './fetch.js';

/** The Fetch handler on Node's HTTP server, through the same @hono/node-server the Hono rows use. */
export async function webServer(ctx: BuildContext): Promise<Server> {
  const server = serve({ fetch: fetchApp(ctx), port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return server;
}
