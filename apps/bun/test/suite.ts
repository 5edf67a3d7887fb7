import { httpSuite } from '@idem/conformance/http';
import type { Store } from '@idem/core';
import { duplicateStorm, remoteSuite } from '@idem/test-runtimes';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { bunAvailable, harnessRuntime, startBun } from './bun.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * The shared HTTP suite and a duplicate storm against test servers in Bun
 * (src/harness.ts), on the memory store and on Redis (the runtime's own
 * ioredis client), through the bridge of `@idem/test-runtimes`. Bun or
 * Redis unreachable: skipped loudly, a failure with CI=true.
 */
export async function bunSuite(
  name: string,
  args: readonly string[],
  skipChecks: Readonly<Record<string, string>> = {},
): Promise<void> {
  const available = await bunAvailable();
  // Only the probe: the runtime builds its own Redis store.
  const reachable = await reachableStores({ label: 'bun', only: ['redis'] });
  await reachable.close();
  if (!available) {
    describe.skip(name, () => it('needs Bun', () => {}));
    return;
  }
  const harness = await startBun('src/harness.ts', args);
  const bridge = await remoteSuite(harnessRuntime(harness));
  afterAll(async () => {
    await bridge.close();
    await fetch(`${harness.url}/records`, { method: 'DELETE' });
    await harness.stop();
  });
  const stores: Record<string, () => Store> = {
    memory: () => bridge.runtimeStore({ kind: 'memory' }),
  };
  if (reachable.stores.redis) {
    stores.redis = () => bridge.runtimeStore({ kind: 'redis', url: REDIS_URL });
  }
  httpSuite({
    name,
    stores,
    skipStores: reachable.skipped,
    skipChecks,
    createServer: bridge.createServer,
  });

  describe(`${name}: a duplicate storm`, () => {
    for (const [store, create] of Object.entries(stores)) {
      it(`runs the handler once per key on ${store}`, async () => {
        const report = await duplicateStorm(bridge.createServer, create());
        console.log(`${name}, storm on ${store}: ${JSON.stringify(report)}`);
        expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
      }, 120_000);
    }
  });
}
