/**
 * The bridge's runtime side on Deno (tools/test-runtimes): a control endpoint
 * on which the test starts (`PUT /servers` with a spec, answered with the
 * server's URL) and stops (`DELETE /servers/<id>`) test servers, each one
 * `Deno.serve` of `remoteSuiteHandler`. Bundled by test/deno.ts; its first
 * line of output is the control endpoint's URL. Arguments: the prefix of its
 * Redis records, and the Redis library (`ioredis` or `redis`, node-redis).
 */
import { memoryStore } from '@idem/store-memory';
import { redisStore } from '@idem/store-redis';
import { remoteSuiteHandler, type ServerSpec } from '@idem/test-runtimes/app';
import { idempotency } from '@idem/web';

const [prefix = 'idem-deno:', library = 'ioredis'] = Deno.args;

type Client = Parameters<typeof redisStore>[0]['client'];

/**
 * One client per Redis, as an app has, with the options the store's README
 * recommends. Each library is imported when used: ioredis needs env access
 * as it loads, node-redis only the network.
 */
async function connect(url: string): Promise<Client> {
  if (library === 'ioredis') {
    const { Redis } = await import('ioredis');
    const client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
    client.on('error', () => {}); // a blip fails the check that met it, with the store's 503
    return client;
  }
  const { createClient } = await import('redis');
  const client = createClient({
    url,
    disableOfflineQueue: true,
    pingInterval: 1_000,
    socket: {
      socketTimeout: 3_000,
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000),
    },
    commandOptions: { timeout: 2_000 },
  });
  client.on('error', () => {}); // node-redis throws 'error' events nobody listens to
  return client.connect();
}
const clients = new Map<string, Client>();

const servers = new Map<string, Deno.HttpServer>();

async function start(spec: ServerSpec): Promise<string> {
  const { store } = spec;
  if (store.kind === 'redis' && !clients.has(store.url)) {
    clients.set(store.url, await connect(store.url));
  }
  const handler = remoteSuiteHandler(spec, {
    idempotency,
    memoryStore,
    redisStore: (url) => redisStore({ client: clients.get(url)!, prefix }),
  });
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
