// Tests run against each package's TypeScript sources through the `@idem/source`
// export condition, so no build is needed before `pnpm test`.
//
// Vitest hands ssr.resolve.conditions to Node as --conditions, which also steer
// require() inside CommonJS dependencies. Generic conditions such as `import`
// or `module` would send require() to ESM or bundler-only builds (the AWS SDK's
// dist-es, pg-pool's ESM wrapper, Express 5's is-promise, big.js in dynalite),
// and Vite adds import/require/default per import by itself: list only ours.
const conditions = ['@idem/source', 'node'];

export const sourceConditions = {
  resolve: { conditions },
  ssr: { resolve: { conditions } },
};
