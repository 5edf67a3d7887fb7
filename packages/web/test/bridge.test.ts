import { httpSuite, type TestServer } from '@idem/conformance/http';
import { memoryStore } from '@idem/store-memory';
import { remoteSuite, serveFetch } from '@idem/test-runtimes';
import { remoteSuiteHandler } from '@idem/test-runtimes/app';
import { afterAll } from 'vitest';
import { idempotency } from '../src/index.js';

// The bridge Bun, Deno and Next.js run the suite through (tools/test-runtimes),
// with Node on the far side: when a runtime fails the suite, this says
// whether the bridge or the runtime is at fault.
const servers = new Map<string, TestServer>();
const bridge = await remoteSuite({
  async start(spec) {
    const server = await serveFetch(remoteSuiteHandler(spec, { idempotency, memoryStore }));
    servers.set(spec.id, server);
    return server.url;
  },
  async stop(id) {
    await servers.get(id)?.close();
    servers.delete(id);
  },
});
afterAll(() => bridge.close());

httpSuite({
  name: '@idem/web through the runtime bridge, on Node',
  stores: { memory: () => bridge.runtimeStore({ kind: 'memory' }) },
  createServer: bridge.createServer,
});
