/**
 * The Worker the tests run in workerd: the package's object class, bound as
 * `IDEMPOTENCY`, plus a subclass that lets the tests look at an object's
 * storage out of band (its rows and its alarm), bound as `INSPECTED`, and another class bound as `OTHER`.
 */
import { DurableObject } from 'cloudflare:workers';
import { type DurableObjectStore, durableObjectStore, IdempotencyObject } from '../src/workerd.js';
import { byteAt } from './bodies.js';

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
 * A body of `maxResponseBytes` stored and read back inside workerd, as in
 * production. Sent from Node, the 1.8 MB would cross miniflare's binding
 * proxy each way, which is slow and leaves an RPC stub in workerd that
 * nobody disposes (workerd warns when it is collected).
 */
async function bodies(store: DurableObjectStore, key: string): Promise<Response> {
  const owner = { fingerprint: 'fp', token: crypto.randomUUID(), leaseMs: 30_000 };
  await store.claim(key, owner);
  // A view into a larger buffer: the store must send the view's bytes only.
  const buffer = new Uint8Array(store.maxResponseBytes + 100);
  for (let i = 0; i < buffer.length; i++) buffer[i] = byteAt(i);
  const response = {
    status: 201,
    headers: [['content-type', 'application/octet-stream']] as [string, string][],
    body: buffer.subarray(100),
  };
  const completed = await store.complete(key, owner.token, response, 60_000);
  const record = await store.read(key);
  const read = record?.state === 'completed' ? record.response.body : new Uint8Array(0);
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', read as Uint8Array<ArrayBuffer>),
  );
  return Response.json({
    maxResponseBytes: store.maxResponseBytes,
    completed,
    state: record?.state,
    byteLength: read.byteLength,
    sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
  });
}

/**
 * `POST /claim/<key>`: a claim made inside workerd, on the `IDEMPOTENCY`
 * binding; answers what the store returned or threw (code, message, cause).
 * `POST /bodies/<key>`: see {@link bodies}.
 */
export default {
  async fetch(request: Request, env: { IDEMPOTENCY: never }): Promise<Response> {
    const [, route, key = 'k'] = new URL(request.url).pathname.split('/');
    const store = durableObjectStore({ namespace: env.IDEMPOTENCY });
    if (route === 'bodies') return bodies(store, key);
    try {
      const token = crypto.randomUUID();
      return Response.json(await store.claim(key, { fingerprint: 'fp', token, leaseMs: 1_000 }));
    } catch (error) {
      const e = error as { code?: string; message: string; cause?: { message?: string } };
      return Response.json({ code: e.code, message: e.message, cause: e.cause?.message });
    }
  },
};
