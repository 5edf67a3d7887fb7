import { workerdStoreSuite } from '@idem/test-workerd';

// Each check runs whole inside workerd, in the Worker of ./worker/conformance.ts,
// next to its D1 database: one request per check, not one proxy call per statement.
// Every check runs here in the quick profile; conformance.deep.test.ts runs them in full.
await workerdStoreSuite({
  entry: new URL('./worker/conformance.ts', import.meta.url),
  // Two bindings of the one database: `connect` opens its stores on the second.
  bindings: { d1Databases: { DB: 'idem-conformance', DB_AGAIN: 'idem-conformance' } },
});
