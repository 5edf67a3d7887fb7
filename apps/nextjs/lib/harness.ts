/**
 * Test-only: the HTTP conformance suite's bridge (tools/test-runtimes)
 * served by this app, so the suite runs against `next build` + `next start`.
 * The routes under app/harness answer 404 unless IDEM_TEST_HARNESS=1.
 */
import type { Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import { redisStore } from '@idem/store-redis';
import { remoteSuiteHandler, type ServerSpec } from '@idem/test-runtimes/app';
import { idempotency } from '@idem/web';
import { Redis } from 'ioredis';

interface TestServer {
  readonly fetch: (request: Request) => Promise<Response>;
  readonly clients: Redis[];
}

// Each route module may be its own module instance: the servers live on globalThis.
const shared = globalThis as typeof globalThis & { idemTestServers?: Map<string, TestServer> };
shared.idemTestServers ??= new Map<string, TestServer>();
const servers = shared.idemTestServers;
/** Keeps this process's Redis records apart from an earlier run's, whose keys may repeat. */
const prefix = `idem:nextjs-test:${Date.now().toString(36)}:`;

/** Whether this process serves the harness (never in the example as deployed). */
export function harnessEnabled(): boolean {
  return process.env.IDEM_TEST_HARNESS === '1';
}

/** Builds the test server `spec` describes, under its id. */
export function startServer(spec: ServerSpec): void {
  const clients: Redis[] = [];
  const fetch = remoteSuiteHandler(spec, {
    idempotency,
    memoryStore: (): Store => memoryStore(),
    redisStore(url: string): Store {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      clients.push(client);
      return redisStore({ client, prefix });
    },
  });
  servers.set(spec.id, { fetch, clients });
}

/** Drops the test server `id` and closes its Redis clients. */
export async function stopServer(id: string): Promise<void> {
  const server = servers.get(id);
  servers.delete(id);
  await Promise.all(server?.clients.map((client) => client.quit()) ?? []);
}

/** The test server `id`'s answer to `request`, or a 404 when there is none. */
export function serve(id: string, request: Request): Promise<Response> {
  const server = harnessEnabled() ? servers.get(id) : undefined;
  if (!server) return Promise.resolve(new Response(`no test server ${id}`, { status: 404 }));
  return server.fetch(request);
}
