import type { Options } from 'tsup';

/**
 * The build every published package shares: ESM and CommonJS, each with its
 * types, for the given entry points. Code shared by several entries goes into
 * one chunk per format (`splitting`), so `@idem/core`'s `index` and `http`
 * entries load one copy of its classes, not one each. Each package's
 * `tsup.config.ts` spreads this and adds only what is its own.
 */
export function packageBuild(entry: Record<string, string>): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    splitting: true,
    // The d.ts build is a plain program: composite (for tsc -b) would demand every file be listed.
    dts: { compilerOptions: { composite: false, incremental: false } },
    clean: true,
    sourcemap: true,
    target: 'es2022',
  };
}
