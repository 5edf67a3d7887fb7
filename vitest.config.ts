import { defineConfig } from 'vitest/config';

// One root config runs every package's tests against their TypeScript sources
// (the `@idem/source` export condition), so no build is needed before testing.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
});
