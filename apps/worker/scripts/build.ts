/**
 * `pnpm --filter @idem/worker-example build`: the Worker bundled as
 * `wrangler deploy` would bundle it (see ./bundle.ts), to dist/index.js, for
 * `npx wrangler deploy --no-bundle` or a look at what ships.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleWorker } from './bundle.ts';

const code = await bundleWorker(fileURLToPath(new URL('../src/index.ts', import.meta.url)), {
  minify: true,
});
await mkdir(new URL('../dist', import.meta.url), { recursive: true });
await writeFile(new URL('../dist/index.js', import.meta.url), code);
console.log(`dist/index.js: ${code.length.toLocaleString('en')} bytes`);
