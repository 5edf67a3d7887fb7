/**
 * The bridge's runtime side on Deno (tools/test-runtimes): a control endpoint
 * on which the test starts (`PUT /servers` with a spec, answered with the
 * server's URL) and stops (`DELETE /servers/<id>`) test servers, each one
 * `Deno.serve` of `remoteSuiteHandler`. Bundled by test/deno.ts; its first
 * line of output is the control endpoint's URL.
 */
import { memoryStore } from '@idem/store-memory';
import { redisStore } from '@idem/store-redis';
import { remoteSuiteHandler, type ServerSpec } from '@idem/test-runtimes/app';
import { idempotency } from '@idem/web';
import { Redis } from 'ioredis';

// One client per Redis, as an app has; the test names the prefix (Deno.args[0]) to delete its records.
const prefix = Deno.args[0] ?? 'idem-deno:';
const clients = new Map<string, Redis>();
const redisOn = (url: string) => {
  let client = clients.get(url);
  if (!client) {
    client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
    clients.set(url, client);
  }
  return redisStore({ client, prefix });
};

const servers = new Map<string, Deno.HttpServer>();

function start(spec: ServerSpec): Promise<string> {
  const handler = remoteSuiteHandler(spec, { idempotency, memoryStore, redisStore: redisOn });
  return new Promise((resolve) => {
    const options = {
      port: 0,
      hostname: '127.0.0.1',
      onListen: ({ port }: Deno.NetAddr) => resolve(`http://127.0.0.1:${port}`),
    };
    servers.set(spec.id, Deno.serve(options, handler));
  });
}

async function control(request: Request): Promise<Response> {
  const [, what, id] = new URL(request.url).pathname.split('/');
  if (what !== 'servers') return new Response(null, { status: 404 });
  if (request.method === 'PUT') return new Response(await start(await request.json()));
  const server = servers.get(id ?? '');
  servers.delete(id ?? '');
  await server?.shutdown();
  return new Response(null, { status: 204 });
}

Deno.serve(
  {
    port: 0,
    hostname: '127.0.0.1',
    onListen: ({ port }) => console.log(`http://127.0.0.1:${port}`),
  },
  control,
);
