/**
 * The Worker that runs `@idem/conformance`'s store checks inside workerd,
 * next to the package's objects, each check in one request (see
 * ./conformance.test.ts): every store operation is one RPC call from this
 * Worker to the key's object, as in production, where driving the store from
 * Node adds a trip through miniflare's proxy to each. Its entries
 * (conformance-worker.ts, conformance-worker-full.ts) pick the profile and
 * export the object class.
 */
import type { StoreSuiteProfile } from '@idem/conformance/store/checks';
import { type ChecksWorker, checksWorker } from '@idem/test-workerd/worker';
import { type DurableObjectNamespaceLike, durableObjectStore } from '../src/workerd.js';

/** The Worker's bindings. */
export interface ObjectsEnv {
  readonly IDEMPOTENCY: DurableObjectNamespaceLike;
  /** The same namespace through a binding of its own. */
  readonly IDEMPOTENCY_AGAIN: DurableObjectNamespaceLike;
}

/** The checks Worker running both suites under `profile`. */
export function objectsChecksWorker(profile: StoreSuiteProfile): ChecksWorker<ObjectsEnv> {
  return checksWorker<ObjectsEnv>({
    server: (env) => ({
      name: "durable objects inside workerd (the object's clock)",
      clock: 'server', // leases and expiry judged by each object's Date.now() when the call arrives
      sharedBackend: true, // two store instances over the one namespace
      profile,
      timeoutMs: 180_000, // a whole check in one request, beside the others (concurrent): slow on a loaded machine
      createStore: () => durableObjectStore({ namespace: env.IDEMPOTENCY }),
      // The namespace's other binding: as close to a second connection as a Worker gets.
      connect: () => ({
        store: durableObjectStore({ namespace: env.IDEMPOTENCY_AGAIN }),
        close() {},
      }),
    }),
    // The model check moves an injected clock by hand, so leases and expiry race every other command.
    injectable: (env) => ({
      name: 'durable objects inside workerd (injected clock)',
      clock: 'injectable',
      sharedBackend: true,
      profile,
      timeoutMs: 180_000,
      createStore: ({ now }) => durableObjectStore({ namespace: env.IDEMPOTENCY, now }),
      connect: ({ now }) => ({
        store: durableObjectStore({ namespace: env.IDEMPOTENCY_AGAIN, now }),
        close() {},
      }),
    }),
  });
}
