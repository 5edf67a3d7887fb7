/**
 * The Worker that runs `@idem/conformance/store` inside workerd: every store
 * call the suite makes in Node arrives here as one request and is performed
 * by a store built on this Worker's real bindings, so the operations execute
 * in workerd, next to D1 and the Durable Objects, as in production.
 *
 * `POST /<kind>/<method>` with `encode({ args, now })` (./wire.ts) answers
 * `encode(result)`, or 500 with `{ code, name, message }` for a throw.
 * `now` is the suite's clock when it injects one; without it the stores
 * judge time by SQLite's clock (D1) or the object's (Durable Objects).
 * `GET /<kind>/limit` answers the store's `maxResponseBytes`. Each answer
 * carries `x-round-trips`: the calls the operation made on the binding (D1
 * statements and batches, Durable Object RPC calls).
 */
import type { Store } from '@idem/core';
import { type D1DatabaseLike, type D1StatementLike, type D1Store, d1Store } from '@idem/store-d1';
import { type DurableObjectNamespaceLike, durableObjectStore } from '@idem/store-durable-objects';
import { decode, encode } from '@idem/test-runtimes/wire';
import { STORE_TABLE } from './protocol.js';

export { IdempotencyObject } from '@idem/store-durable-objects';

interface Env {
  readonly IDEM_DB: D1DatabaseLike;
  readonly IDEMPOTENCY: DurableObjectNamespaceLike;
}

const METHODS = new Set(['claim', 'complete', 'release', 'renew', 'read']);

/** Round trips made while serving one request. */
interface Trips {
  n: number;
}

function trip<T>(trips: Trips, call: () => T): T {
  trips.n++;
  return call();
}

/** The D1 binding with each round trip (a statement's run/first, a batch) counted. */
function countedD1(database: D1DatabaseLike, trips: Trips): D1DatabaseLike {
  const inner = new WeakMap<D1StatementLike, D1StatementLike>();
  const wrap = (statement: D1StatementLike): D1StatementLike => {
    const wrapped: D1StatementLike = {
      bind: (...values) => wrap(statement.bind(...values)),
      run: () => trip(trips, () => statement.run()),
      first: () => trip(trips, () => statement.first()),
    };
    inner.set(wrapped, statement);
    return wrapped;
  };
  return {
    prepare: (sql) => wrap(database.prepare(sql)),
    batch: (statements) => trip(trips, () => database.batch(statements.map((s) => inner.get(s)!))),
  };
}

/** The namespace with each RPC call to an object counted. */
function countedObjects(
  namespace: DurableObjectNamespaceLike,
  trips: Trips,
): DurableObjectNamespaceLike {
  return {
    idFromName: (name) => namespace.idFromName(name),
    get(id) {
      const stub = namespace.get(id) as { perform(operation: unknown): Promise<unknown> };
      return { perform: (operation: unknown) => trip(trips, () => stub.perform(operation)) };
    },
  };
}

function storeOf(kind: string, env: Env, trips: Trips, now?: number): Store | D1Store {
  const clock = now === undefined ? {} : { now: () => now };
  if (kind === 'd1') {
    return d1Store({ database: countedD1(env.IDEM_DB, trips), table: STORE_TABLE, ...clock });
  }
  if (kind === 'durable-objects') {
    return durableObjectStore({ namespace: countedObjects(env.IDEMPOTENCY, trips), ...clock });
  }
  throw new Error(`no store ${kind}`);
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const [, kind = '', method = ''] = new URL(request.url).pathname.split('/');
    const trips: Trips = { n: 0 };
    try {
      if (method === 'limit') {
        return new Response(String(storeOf(kind, env, trips).maxResponseBytes));
      }
      if (!METHODS.has(method)) return new Response(`no method ${method}`, { status: 404 });
      const { args, now } = decode(await request.text()) as { args: unknown[]; now?: number };
      const store = storeOf(kind, env, trips, now);
      const operation = store[method as 'claim'] as (...a: unknown[]) => Promise<unknown>;
      const result = await operation.apply(store, args);
      return new Response(encode(result), { headers: { 'x-round-trips': String(trips.n) } });
    } catch (error) {
      const { code, name, message } = error as { code?: string; name?: string; message?: string };
      return Response.json(
        { code, name, message },
        { status: 500, headers: { 'x-round-trips': String(trips.n) } },
      );
    }
  },
};
