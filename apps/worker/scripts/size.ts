/**
 * The size budget of idem on the edge: what `@idem/hono` adds to a Worker
 * (the middleware and the parts of @idem/core it uses), bundled for workerd,
 * minified and gzipped. Hono itself is left out: it is the app's framework,
 * there with or without idem. Run `pnpm --filter @idem/worker-example size`;
 * test/size.test.ts holds the same budget in `pnpm test`.
 */
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { workerBuildOptions } from './bundle.ts';

/**
 * The budget, in gzipped bytes: 8 KB read strictly, 8,000 bytes, which also
 * keeps it under 8 KiB (8,192 bytes), as bundle-size tools count a kilobyte.
 */
export const BUDGET_BYTES = 8_000;

/** One measured bundle. */
export interface Measurement {
  readonly name: string;
  readonly minifiedBytes: number;
  readonly gzippedBytes: number;
  /** For comparison with tools that report brotli (size-limit). */
  readonly brotliBytes: number;
}

/** Bundle `contents` (an entry module) for workerd, minified, and measure it. */
export async function measure(name: string, contents: string): Promise<Measurement> {
  const result = await build({
    ...workerBuildOptions,
    stdin: { contents, resolveDir: import.meta.dirname, loader: 'ts' },
    external: ['hono', 'hono/*'],
    minify: true,
    write: false,
  });
  const code = result.outputFiles[0]!.contents;
  return {
    name,
    minifiedBytes: code.byteLength,
    gzippedBytes: gzipSync(code, { level: 9 }).byteLength,
    brotliBytes: brotliCompressSync(code).byteLength,
  };
}

/** What the budget covers: everything `@idem/hono` exports, tree-shaken as a bundler does. */
export function measureHonoMiddleware(): Promise<Measurement> {
  return measure('@idem/core + @idem/hono', "export * from '@idem/hono';");
}

const kb = (bytes: number) => `${bytes.toLocaleString('en')} B (${(bytes / 1024).toFixed(2)} KiB)`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const budgeted = await measureHonoMiddleware();
  const others = await Promise.all([
    measure(
      '+ @idem/store-memory',
      "export * from '@idem/hono'; export * from '@idem/store-memory';",
    ),
    measure(
      'all of @idem/core (both entries)',
      "export * from '@idem/core'; export * from '@idem/core/http';",
    ),
  ]);
  for (const m of [budgeted, ...others]) {
    console.log(
      `${m.name}: ${kb(m.minifiedBytes)} minified, ${kb(m.gzippedBytes)} gzipped, ${kb(m.brotliBytes)} brotli`,
    );
  }
  if (budgeted.gzippedBytes > BUDGET_BYTES) {
    console.error(`over budget: ${kb(budgeted.gzippedBytes)} > ${kb(BUDGET_BYTES)} gzipped`);
    process.exit(1);
  }
  console.log(`within budget: ${kb(budgeted.gzippedBytes)} <= ${kb(BUDGET_BYTES)} gzipped`);
}
