import { defineConfig } from 'tsup';

// Plain ESM for Node, every package left external (resolved at run time to the
// workspace packages' built dist, never their sources), and no keepNames:
// esbuild's keepNames wraps every per-request closure in __name(...), which
// distorts per-request cost.
export default defineConfig({
  entry: {
    main: 'src/main.ts',
    server: 'src/server.ts',
    micro: 'src/micro.ts',
    render: 'src/render.ts',
    'autocannon-runner': 'src/autocannon-runner.ts',
  },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  skipNodeModulesBundle: true,
  keepNames: false,
  splitting: true,
  clean: true,
  sourcemap: true,
  dts: false,
});
