import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { httpSuite } from '@idem/conformance/http';
import { memoryStore } from '@idem/store-memory';
import { remoteSuite } from '@idem/test-runtimes';
import { remoteSuiteHandler } from '@idem/test-runtimes/app';
import { afterAll } from 'vitest';
import { idempotency } from '../src/index.js';

// The bridge Bun, Deno and Next.js run the suite through (tools/test-runtimes),
// with Node on the far side: when a runtime fails the suite, this says
// whether the bridge or the runtime is at fault.
const servers = new Map<string, ReturnType<typeof serve>>();
const bridge = await remoteSuite({
  start: (spec) =>
    new Promise((resolve) => {
      const fetch = remoteSuiteHandler(spec, { idempotency, memoryStore });
      const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
        resolve(`http://127.0.0.1:${info.port}`),
      );
      servers.set(spec.id, server);
    }),
  async stop(id) {
    const server = servers.get(id);
    servers.delete(id);
    if (server && 'closeAllConnections' in server) server.closeAllConnections();
    server?.close();
  },
});
afterAll(() => bridge.close());

httpSuite({
  name: '@idem/web through the runtime bridge, on Node',
  stores: { memory: () => bridge.runtimeStore({ kind: 'memory' }) },
  createServer: bridge.createServer,
});
