import { httpSuite } from '@idem/conformance/http';
import { duplicateStorm, remoteSuite } from '@idem/test-runtimes';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteRecords, denoRuntime, findDeno, reachRedis, redisUrl, scratch } from './deno.js';

// The HTTP suite and the storm on Deno.serve: @idem/web and the stores run
// in Deno (src/harness.ts, bundled; Redis on ioredis under Deno's Node
// compatibility), the suite in this process, through the runtime bridge
// (tools/test-runtimes). No Deno or no Redis: skipped loudly; CI=true fails.
const deno = await findDeno();
const redis = await reachRedis();

async function onDeno(deno: string) {
  const files = await scratch();
  const prefix = `idem-deno-${Date.now().toString(36)}:`;
  const runtime = await denoRuntime(deno, files.dir, prefix);
  const bridge = await remoteSuite(runtime);
  afterAll(async () => {
    await bridge.close();
    await runtime.close();
    await files.remove();
    if (redis) await deleteRecords(prefix);
  });
  const stores = {
    memory: async () => bridge.runtimeStore({ kind: 'memory' }),
    ...(redis && { redis: async () => bridge.runtimeStore({ kind: 'redis', url: redisUrl }) }),
  };

  httpSuite({
    name: '@idem/web on Deno.serve',
    stores,
    ...(!redis && { skipStores: { redis: `Redis is not reachable at ${redisUrl}` } }),
    createServer: bridge.createServer,
  });

  describe('@idem/web on Deno.serve: a duplicate storm', () => {
    for (const [name, create] of Object.entries(stores)) {
      it(`runs the handler once per key on ${name}`, async () => {
        const report = await duplicateStorm(bridge.createServer, await create());
        console.log(`Deno.serve storm on ${name}: ${JSON.stringify(report)}`);
        expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
      }, 120_000);
    }
  });
}

if (deno) await onDeno(deno);
else it.skip('@idem/web on Deno.serve (Deno does not run here)', () => {});
