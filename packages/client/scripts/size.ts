/**
 * The size budget of `@idem/client`: everything it exports, bundled for a
 * browser as an app's bundler would (ES2022, minified), gzipped. Run
 * `pnpm --filter @idem/client size`; test/size.test.ts holds the same budget
 * in `pnpm test`.
 */
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/**
 * The budget, in gzipped bytes. Most of it is error messages that name the
 * fix and the three HTTP-date forms; 4,000 until unknown option names were
 * refused with the closest known name (about 320 bytes), 4,250 until each
 * option's error was worded as core's option rules word it (4,278 measured).
 */
export const BUDGET_BYTES = 4_300;

/** One measured bundle. */
export interface Measurement {
  readonly minifiedBytes: number;
  readonly gzippedBytes: number;
  /** For comparison with tools that report brotli (size-limit). */
  readonly brotliBytes: number;
}

/** Bundle all of `@idem/client` from its sources, minified, and measure it. */
export async function measureClient(): Promise<Measurement> {
  const result = await build({
    entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['@idem/source'],
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  return {
    minifiedBytes: code.byteLength,
    gzippedBytes: gzipSync(code, { level: 9 }).byteLength,
    brotliBytes: brotliCompressSync(code).byteLength,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const m = await measureClient();
  const b = (n: number) => `${n.toLocaleString('en')} B`;
  console.log(
    `@idem/client: ${b(m.minifiedBytes)} minified, ${b(m.gzippedBytes)} gzipped, ${b(m.brotliBytes)} brotli (budget ${b(BUDGET_BYTES)} gzipped)`,
  );
  if (m.gzippedBytes > BUDGET_BYTES) process.exit(1);
}
