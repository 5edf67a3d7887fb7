/**
 * The Worker that runs `@idem/conformance`'s store checks inside workerd,
 * next to D1, each check in one request (see ../conformance.test.ts): the
 * store's thousands of statements per check are in-process calls here,
 * where driving it from Node sends each one through miniflare's proxy.
 */
import { type ChecksWorker, checksWorker } from '@idem/test-workerd/worker';
import { type D1DatabaseLike, d1Store } from '../../src/index.js';

interface Env {
  readonly DB: D1DatabaseLike;
  /** The same database through a binding of its own. */
  readonly DB_AGAIN: D1DatabaseLike;
}

const table = 'idem_conformance';
/** Once per isolate: every check's stores share the one table. */
let migrated: Promise<void> | undefined;

function store(env: Env, now?: () => number, database = env.DB) {
  const made = d1Store({ database, table, ...(now ? { now } : {}) });
  migrated ??= made.migrate();
  return migrated.then(() => made);
}

const worker: ChecksWorker<Env> = checksWorker<Env>({
  server: (env) => ({
    name: 'd1 inside workerd (SQLite clock)',
    clock: 'server', // leases and expiry judged by SQLite's julianday('now')
    sharedBackend: true, // two d1Store instances over the one binding
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
    timeoutMs: 180_000,
    createStore: ({ now }) => store(env, now),
    connect: async ({ now }) => ({ store: await store(env, now, env.DB_AGAIN), close() {} }),
  }),
});

export default worker;
