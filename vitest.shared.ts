// Tests run against each package's TypeScript sources through the `@idem/source`
// export condition, so no build is needed before `pnpm test`.
const conditions = ['@idem/source', 'module', 'node', 'import', 'default'];

export const sourceConditions = {
  resolve: { conditions },
  ssr: { resolve: { conditions } },
};
