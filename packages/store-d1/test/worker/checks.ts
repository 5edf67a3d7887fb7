/**
 * The Worker that runs `@idem/conformance`'s store checks inside workerd,
 * next to D1, each check in one request (see ../conformance.test.ts): the
 * store's thousands of statements per check are in-process calls here,
 * where driving it from Node sends each one through miniflare's proxy.
 * Its entries (conformance.ts, conformance-full.ts) pick the profile.
 */
import type { StoreSuiteProfile } from '@idem/conformance/store/checks';
import { type ChecksWorker, checksWorker } from '@idem/test-workerd/worker';
import { type D1DatabaseLike, d1Store } from '../../src/index.js';

/** The Worker's bindings. */
export interface D1Env {
  readonly DB: D1DatabaseLike;
  /** The same database through a binding of its own. */
  readonly DB_AGAIN: D1DatabaseLike;
}

const table = 'idem_conformance';
/** Once per isolate: every check's stores share the one table. */
let migrated: Promise<void> | undefined;

function store(env: D1Env, now?: () => number, database = env.DB) {
  const made = d1Store({ database, table, ...(now ? { now } : {}) });
  migrated ??= made.migrate();
  return migrated.then(() => made);
}

/** The checks Worker running both suites under `profile`. */
export function d1ChecksWorker(profile: StoreSuiteProfile): ChecksWorker<D1Env> {
  return checksWorker<D1Env>({
    server: (env) => ({
      name: 'd1 inside workerd (SQLite clock)',
      clock: 'server', // leases and expiry judged by SQLite's julianday('now')
      sharedBackend: true, // two d1Store instances over the one binding
      profile,
      timeoutMs: 180_000, // a whole check in one request, beside the others (concurrent): slow on a loaded machine
      createStore: () => store(env),
      // The database's other binding: as close to a second connection as a Worker gets.
      connect: async () => ({ store: await store(env, undefined, env.DB_AGAIN), close() {} }),
    }),
    // The model check moves an injected clock by hand, so leases and expiry race every other command.
    injectable: (env) => ({
      name: 'd1 inside workerd (injected clock)',
      clock: 'injectable',
      sharedBackend: true,
      profile,
      timeoutMs: 180_000,
      createStore: ({ now }) => store(env, now),
      connect: async ({ now }) => ({ store: await store(env, now, env.DB_AGAIN), close() {} }),
    }),
  });
}
