import { workerdStoreSuite } from '@idem/test-workerd';

// The suite of conformance.test.ts in the full profile: every property's
// runs, every race key and round (the everyday tier runs a share of each).
await workerdStoreSuite({
  entry: new URL('./worker/conformance-full.ts', import.meta.url),
  bindings: { d1Databases: { DB: 'idem-conformance', DB_AGAIN: 'idem-conformance' } },
});
