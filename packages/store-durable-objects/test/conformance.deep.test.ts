import { workerdStoreSuite } from '@idem/test-workerd';

// The suite of conformance.test.ts in the full profile: every property's
// runs, every race key and round (the everyday tier runs a share of each).
await workerdStoreSuite({
  entry: new URL('./conformance-worker-full.ts', import.meta.url),
  bindings: {
    durableObjects: {
      IDEMPOTENCY: { className: 'IdempotencyObject', useSQLite: true },
      IDEMPOTENCY_AGAIN: { className: 'IdempotencyObject', useSQLite: true },
    },
  },
});
