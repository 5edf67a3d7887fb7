/**
 * The test servers' side of the bridge (`@idem/test-runtimes`), run by Bun:
 * a control endpoint on a loopback port (its URL is the first line on
 * stdout). `PUT /servers` with a spec starts one test server on port 0 and
 * answers its URL; `DELETE /servers/<id>` stops it; `DELETE /records`
 * deletes the Redis records this process wrote. `bun src/harness.ts`
 * serves each test server with `Bun.serve`; `bun src/harness.ts elysia`
 * with an Elysia app routing to it, `bun src/harness.ts elysia-mount` with
 * an Elysia app mounting it (./elysia-suite.ts).
 *
 * Run with `--conditions=@idem/source`, so Bun loads the workspace's
 * TypeScript sources as they are.
 */
import { memoryStore } from '@idem/store-memory';
import { redisStore } from '@idem/store-redis';
import { remoteSuiteHandler, type ServerSpec } from '@idem/test-runtimes/app';
import { idempotency } from '@idem/web';
import { Redis } from 'ioredis';
import { elysiaMount, elysiaRoutes } from './elysia-suite.ts';

type Fetch = (request: Request) => Promise<Response>;

const ELYSIA = { elysia: elysiaRoutes, 'elysia-mount': elysiaMount };
const framework = process.argv[2] ?? 'bun';
const elysia = ELYSIA[framework as keyof typeof ELYSIA] as (typeof ELYSIA)['elysia'] | undefined;
if (framework !== 'bun' && !elysia)
  throw new Error(`no server named ${framework}: bun, elysia or elysia-mount`);

// One ioredis client per Redis URL for the whole process, as an app holds
// one; a prefix per process keeps runs of this harness apart in Redis.
const clients = new Map<string, Redis>();
const prefix = `idem:${framework}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;
function redisOn(url: string) {
  let client = clients.get(url);
  if (!client) {
    client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
    clients.set(url, client);
  }
  return redisStore({ client, prefix });
}

/** Delete this process's records from Redis (they would otherwise live out their TTL). */
async function deleteRecords() {
  for (const client of clients.values()) {
    for await (const keys of client.scanStream({ match: `${prefix}*`, count: 500 })) {
      if ((keys as string[]).length > 0) await client.unlink(...(keys as string[]));
    }
  }
}

/** A test server on port 0: Bun.serve, with the suite's handler or an Elysia app around it. */
function serveTest(fetch: Fetch) {
  if (elysia) {
    const app = elysia(fetch).listen({ port: 0, hostname: '127.0.0.1' });
    const server = app.server!;
    return { url: `http://127.0.0.1:${server.port}`, stop: () => app.stop(true) };
  }
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

const servers = new Map<string, { stop(): unknown }>();

const control = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (request.method === 'PUT' && path === '/servers') {
      const spec = (await request.json()) as ServerSpec;
      const fetch = remoteSuiteHandler(spec, { idempotency, memoryStore, redisStore: redisOn });
      const server = serveTest(fetch);
      servers.set(spec.id, server);
      return new Response(server.url);
    }
    if (request.method === 'DELETE' && path.startsWith('/servers/')) {
      const id = path.slice('/servers/'.length);
      await servers.get(id)?.stop();
      servers.delete(id);
      return new Response(null, { status: 204 });
    }
    if (request.method === 'DELETE' && path === '/records') {
      await deleteRecords();
      return new Response(null, { status: 204 });
    }
    return new Response('not found', { status: 404 });
  },
});

console.log(`http://127.0.0.1:${control.port}`);
