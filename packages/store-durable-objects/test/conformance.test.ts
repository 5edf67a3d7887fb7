import { workerdStoreSuite } from '@idem/test-workerd';

// Each check runs whole inside workerd, in the Worker of ./conformance-worker.ts,
// next to the objects: one request per check, not one proxy call per operation.
// Every check runs here in the quick profile; conformance.deep.test.ts runs them in full.
await workerdStoreSuite({
  entry: new URL('./conformance-worker.ts', import.meta.url),
  bindings: {
    // Two bindings of the one class: `connect` opens its stores on the second.
    durableObjects: {
      IDEMPOTENCY: { className: 'IdempotencyObject', useSQLite: true },
      IDEMPOTENCY_AGAIN: { className: 'IdempotencyObject', useSQLite: true },
    },
  },
});
