import { type BuildOptions, build } from 'esbuild';

/**
 * How a Worker is bundled: what `wrangler deploy` does, with esbuild directly.
 *
 * - `platform: 'browser'` makes esbuild honour the `browser` field maps in
 *   package.json, which is how the AWS SDK swaps its Node runtime config
 *   (node:http, node:fs credential files) for the fetch and Web Crypto one.
 * - `conditions`: the ones wrangler uses (`workerd`, `worker`, `browser`),
 *   plus `@idem/source` so the workspace's packages are bundled from their
 *   TypeScript sources and nothing has to be built first.
 * - only workerd's built-in modules (`cloudflare:workers`, which the Durable
 *   Objects store's class extends) are external, as with wrangler: a `node:`
 *   import anywhere fails the build, so the bundle runs without `nodejs_compat`.
 */
export const workerBuildOptions: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  conditions: ['@idem/source', 'workerd', 'worker', 'browser'],
  target: 'es2022',
  external: ['cloudflare:*'],
  logLevel: 'silent',
};

/** Bundle one Worker entry into a single ES module, in memory. */
export async function bundleWorker(entry: string, options: BuildOptions = {}): Promise<string> {
  const result = await build({
    ...workerBuildOptions,
    entryPoints: [entry],
    write: false,
    ...options,
  });
  return result.outputFiles![0]!.text;
}
