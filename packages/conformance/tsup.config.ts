import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    store: 'src/store.ts',
    http: 'src/http.ts',
    // Runtime-neutral (no vitest, no node:): what a test app, even a Worker, imports.
    'http/contract': 'src/http/contract.ts',
  },
  format: ['esm', 'cjs'],
  // The d.ts build is a plain program: composite (for tsc -b) would demand every file be listed.
  dts: { compilerOptions: { composite: false, incremental: false } },
  clean: true,
  sourcemap: true,
  target: 'es2022',
});
