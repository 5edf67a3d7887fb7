import { bundle } from '@idem/test-workerd';
import { Miniflare } from 'miniflare';
import type { D1DatabaseLike } from '../src/index.js';

/**
 * workerd (through miniflare) with one D1 database bound as `DB`; the tests
 * drive it from Node through miniflare's binding proxy, which sends every
 * call into workerd, where D1 runs. `fetch` asks the Worker of
 * test/worker/bodies.ts, which runs the store inside workerd.
 */
export async function startD1(): Promise<{
  database: D1DatabaseLike;
  fetch(url: string): Promise<Response>;
  dispose(): Promise<void>;
}> {
  const mf = new Miniflare({
    modules: true,
    script: await bundle(new URL('./worker/bodies.ts', import.meta.url)),
    compatibilityDate: '2025-09-01',
    d1Databases: { DB: 'idem-test' },
  });
  const database = (await mf.getD1Database('DB')) as unknown as D1DatabaseLike;
  return {
    database,
    fetch: async (url) => (await mf.dispatchFetch(url)) as unknown as Response,
    dispose: () => mf.dispose(),
  };
}

/** A table name no other test file or run uses. */
export function uniqueTable(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
