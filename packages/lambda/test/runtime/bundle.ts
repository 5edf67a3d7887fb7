import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Bundle a handler module from its TypeScript source into a fresh task root
 * (`index.mjs`), as a deployment package would hold it. `@idem/*` resolve to
 * their sources through the `@idem/source` condition, so no package build is
 * needed; the clients (AWS SDK, ioredis) are bundled in.
 */
export async function bundleHandler(
  entry: string,
): Promise<{ taskRoot: string; remove(): Promise<void> }> {
  const taskRoot = await mkdtemp(join(tmpdir(), 'idem-lambda-'));
  await build({
    entryPoints: [entry],
    outfile: join(taskRoot, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@idem/source'],
    logLevel: 'error',
    sourcemap: 'inline',
    // Bundled CommonJS dependencies require() Node's built-ins; ESM has no require of its own.
    banner: {
      js: "import { createRequire as __idemRequire } from 'node:module'; const require = __idemRequire(import.meta.url);",
    },
  });
  return { taskRoot, remove: () => rm(taskRoot, { recursive: true, force: true }) };
}
