/**
 * The Worker the tests run in workerd: the package's object class, bound as
 * `IDEMPOTENCY`, plus a subclass that lets the tests look at an object's
 * storage out of band (its rows and its alarm), bound as `INSPECTED`, and another class bound as `OTHER`.
 */
import { DurableObject } from 'cloudflare:workers';
import { largeBodyRoundTrip } from '@idem/test-workerd/worker';
import { durableObjectStore, IdempotencyObject } from '../src/workerd.js';

export { IdempotencyObject };

/** A class that is not the store's, for the misconfiguration test. */
export class SomeOtherObject extends DurableObject {}

interface Storage {
  sql: { exec(query: string): { toArray(): unknown[] } };
  getAlarm(): Promise<number | null>;
}

export class InspectedObject extends (IdempotencyObject as unknown as new (
  ctx: unknown,
  env: unknown,
) => { perform(operation: unknown): Promise<unknown> }) {
  readonly #storage: Storage;
  constructor(ctx: { storage: Storage }, env: unknown) {
    super(ctx, env);
    this.#storage = ctx.storage;
  }

  /** The keys this object's table holds, expired or not; [] once its storage was dropped. */
  keys(): string[] {
    const tables = this.#storage.sql
      .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'idem_records'")
      .toArray();
    if (tables.length === 0) return [];
    return this.#storage.sql
      .exec('SELECT key FROM idem_records')
      .toArray()
      .map((row) => (row as { key: string }).key);
  }

  alarmAt(): Promise<number | null> {
    return this.#storage.getAlarm();
  }
}

/**
 * `POST /claim/<key>`: a claim made inside workerd, on the `IDEMPOTENCY`
 * binding; answers what the store returned or threw (code, message, cause).
 * `POST /bodies/<key>`: the largest-body round trip (`largeBodyRoundTrip`).
 */
export default {
  async fetch(request: Request, env: { IDEMPOTENCY: never }): Promise<Response> {
    const [, route, key = 'k'] = new URL(request.url).pathname.split('/');
    const store = durableObjectStore({ namespace: env.IDEMPOTENCY });
    if (route === 'bodies') return largeBodyRoundTrip(store, key);
    try {
      const token = crypto.randomUUID();
      return Response.json(await store.claim(key, { fingerprint: 'fp', token, leaseMs: 1_000 }));
    } catch (error) {
      const e = error as { code?: string; message: string; cause?: { message?: string } };
      return Response.json({ code: e.code, message: e.message, cause: e.cause?.message });
    }
  },
};
