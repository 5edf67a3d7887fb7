import { httpSuite } from '@idem/conformance/http';
import { duplicateStorm, type RemoteSuite, remoteSuite } from '@idem/test-runtimes';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deleteRecords,
  denoRuntime,
  findDeno,
  harnessScript,
  type RedisLibrary,
  reachRedis,
  redisUrl,
  scratch,
} from './deno.js';

// The HTTP suite and the storm on Deno.serve: @idem/web and the stores run
// in Deno (src/harness.ts, bundled), the suite in this process, through the
// runtime bridge (tools/test-runtimes). Redis on both clients the store
// takes, each in a Deno process of its own: ioredis (`redis`) and node-redis
// (`redis-node`), under Deno's Node compatibility. No Deno or no Redis:
// skipped loudly; CI=true fails.
const deno = await findDeno();
const redis = await reachRedis();

async function onDeno(deno: string) {
  const files = await scratch();
  const script = await harnessScript(files.dir);
  const prefix = `idem-deno-${Date.now().toString(36)}:`;
  const bridges: RemoteSuite[] = [];
  const closers: Array<() => Promise<void>> = [];
  const bridgeOn = async (library: RedisLibrary) => {
    const runtime = await denoRuntime(deno, script, prefix, library);
    const bridge = await remoteSuite(runtime);
    closers.push(() => bridge.close(), runtime.close);
    bridges.push(bridge);
    return bridge;
  };
  afterAll(async () => {
    for (const close of closers) await close();
    await files.remove();
    if (redis) await deleteRecords(prefix);
  });

  const ioredis = await bridgeOn('ioredis');
  const nodeRedis = redis ? await bridgeOn('redis') : undefined;
  /** Each store, with the bridge (the Deno process) that builds it. */
  const stores: Record<string, [RemoteSuite, () => ReturnType<RemoteSuite['runtimeStore']>]> = {
    memory: [ioredis, () => ioredis.runtimeStore({ kind: 'memory' })],
  };
  if (nodeRedis) {
    stores.redis = [ioredis, () => ioredis.runtimeStore({ kind: 'redis', url: redisUrl })];
    stores['redis-node'] = [
      nodeRedis,
      () => nodeRedis.runtimeStore({ kind: 'redis', url: redisUrl }),
    ];
  }
  const unreachable = `Redis is not reachable at ${redisUrl}`;

  for (const bridge of bridges) {
    const mine = Object.entries(stores).filter(([, [b]]) => b === bridge);
    httpSuite({
      name: `@idem/web on Deno.serve (${mine.map(([name]) => name).join(', ')})`,
      stores: Object.fromEntries(mine.map(([name, [, store]]) => [name, store])),
      ...(!redis && { skipStores: { redis: unreachable, 'redis-node': unreachable } }),
      createServer: bridge.createServer,
    });
  }

  describe('@idem/web on Deno.serve: a duplicate storm', () => {
    for (const [name, [bridge, store]] of Object.entries(stores)) {
      it(`runs the handler once per key on ${name}`, async () => {
        const report = await duplicateStorm(bridge.createServer, store());
        console.log(`Deno.serve storm on ${name}: ${JSON.stringify(report)}`);
        expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
      }, 120_000);
    }
  });
}

if (deno) await onDeno(deno);
else it.skip('@idem/web on Deno.serve (Deno does not run here)', () => {});
