import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The budget, in gzipped bytes, of everything `@idem/web` exports with the
 * parts of `@idem/core` it uses: 16,013 B measured when it was set, with
 * `@idem/hono` at 16,521 B measured the same way (apps/worker/scripts/size.ts).
 * The adapter is a translation: nearly all of it is core, which every
 * adapter carries; the headroom is for core's next option, not for the adapter.
 * Raised from 16,300 when core's engine gained single flight (16,859 B).
 */
const BUDGET_BYTES = 17_100;

/**
 * Bundled as an edge or browser app's bundler would, the way apps/worker's
 * size budget bundles `@idem/hono` (its `workerBuildOptions`): ES2022,
 * minified, the conditions wrangler uses, from the workspace's sources. No
 * `node:` import resolves on this platform, so a Node-only path fails the build.
 */
async function bundle(contents: string): Promise<Uint8Array> {
  const result = await build({
    stdin: { contents, resolveDir: import.meta.dirname, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['@idem/source', 'workerd', 'worker', 'browser'],
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.contents;
}

describe('size budget', () => {
  it(`@idem/web with @idem/core, bundled for the edge, minified and gzipped, stays within ${BUDGET_BYTES.toLocaleString('en')} bytes`, async () => {
    const code = await bundle("export * from '@idem/web';");
    const gzipped = gzipSync(code, { level: 9 }).byteLength;
    expect(gzipped).toBeGreaterThan(1_000); // it did bundle something
    expect(gzipped).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it('leaves out what an app that does not ask for it does not use: the replay cache and Node code', async () => {
    const text = new TextDecoder().decode(await bundle("export * from '@idem/web';"));
    // The cache's own error prefix, and what only Node's hash (native-sha256/node.ts) says.
    for (const word of ['idem: replayCache()', 'utf16le', 'createHash', 'node:']) {
      expect(text).not.toContain(word);
    }
  });
});
