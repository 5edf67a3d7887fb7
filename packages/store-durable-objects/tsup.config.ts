import { defineConfig } from 'tsup';

export default defineConfig({
  // Two entries with one API: index for Node and other runtimes, workerd for
  // Workers (its class extends workerd's DurableObject, from cloudflare:workers).
  entry: { index: 'src/index.ts', workerd: 'src/workerd.ts' },
  format: ['esm', 'cjs'],
  external: ['cloudflare:workers'],
  // The d.ts build is a plain program: composite (for tsc -b) would demand every file be listed.
  dts: { compilerOptions: { composite: false, incremental: false } },
  clean: true,
  sourcemap: true,
  target: 'es2022',
});
