import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.ts';

export default defineConfig(
  packageBuild({
    index: 'src/index.ts',
    store: 'src/store.ts',
    // Runtime-neutral too: the store checks without vitest, for any runner or runtime.
    'store/checks': 'src/store-checks.ts',
    http: 'src/http.ts',
    transactional: 'src/transactional.ts',
    // Runtime-neutral (no vitest, no node:): what a test app, even a Worker, imports.
    'http/contract': 'src/http/contract.ts',
  }),
);
