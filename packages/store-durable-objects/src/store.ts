import {
  type ClaimRequest,
  type ClaimResult,
  ConfigurationError,
  clock as clockRule,
  defineOptions,
  type OwnerResult,
  option,
  ResponseTooLargeError,
  required,
  rule,
  type Store,
  type StoredRecord,
  type StoredResponse,
} from '@idem/core/store';
import { NEEDS_SQLITE, type Operation, type Reply } from './protocol.js';

/**
 * The part of a Durable Object namespace binding the store uses.
 * `DurableObjectNamespace` from `@cloudflare/workers-types` (or `wrangler
 * types`) fits it, and so does miniflare's Node-side proxy
 * (`await mf.getDurableObjectNamespace('IDEMPOTENCY')`). Declared here so the
 * package's types need neither.
 */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): unknown;
}

/** Options of {@link durableObjectStore}. */
export interface DurableObjectStoreOptions {
  /**
   * The namespace binding of {@link IdempotencyObject} (`env.IDEMPOTENCY`): a
   * `[[durable_objects.bindings]]` entry whose class is declared under
   * `new_sqlite_classes`.
   */
  readonly namespace: DurableObjectNamespaceLike;
  /**
   * The clock leases and expiry are judged by, in epoch milliseconds, read
   * by the caller and sent with each operation. By default each key's object
   * judges by its own clock when the operation arrives, one clock per key
   * whichever Worker calls, and Workers' `Date.now()` (which stands still
   * while code runs) plays no part. Inject one only for tests that move time by hand.
   * @default the object's clock
   */
  readonly now?: () => number;
}

/** A {@link Store} on Durable Objects: one object per store key. */
export interface DurableObjectStore extends Store {
  /**
   * Largest response body kept, in bytes: 1.75 MiB, leaving room under the
   * 2 MB row limit of a Durable Object's SQLite storage for headers and bookkeeping.
   * @default 1_835_008
   */
  readonly maxResponseBytes: number;
}

/** The row limit of a Durable Object's SQLite storage (a string, BLOB or row), in bytes. */
const ROW_LIMIT = 2_000_000;
const MAX_BODY = 1_835_008;
/** A completed row besides key, headers and body: column values and 1 KiB for the fingerprint. */
const ROW_FIXED_BYTES = 1024 + 64;
const encoder = new TextEncoder();

type Stub = { perform(operation: Operation): Promise<Reply> };

const resolveOptions = defineOptions({
  namespace: required(
    rule<DurableObjectNamespaceLike>(
      'the Durable Object namespace binding, such as env.IDEMPOTENCY, bound in wrangler.toml to the class IdempotencyObject that your Worker exports (or miniflare\'s await mf.getDurableObjectNamespace("IDEMPOTENCY"))',
      (v) =>
        typeof (v as Partial<DurableObjectNamespaceLike> | null)?.idFromName === 'function' &&
        typeof (v as DurableObjectNamespaceLike).get === 'function',
    ),
  ),
  now: option(clockRule),
});

/**
 * A store on Durable Objects. Each store key has an object of its own
 * (`idFromName(key)`), and each operation is one RPC call that the object
 * runs atomically on its SQLite storage; an alarm deletes the record once it
 * has expired. Export {@link IdempotencyObject} from your Worker and bind it.
 *
 * @example
 * ```ts
 * const store = durableObjectStore({ namespace: env.IDEMPOTENCY });
 * app.use('/payments/*', idempotency({ store }));
 * ```
 */
export function durableObjectStore(options: DurableObjectStoreOptions): DurableObjectStore {
  // Names first: `{ ns: env.IDEMPOTENCY }` is a typo, not a missing namespace.
  const { namespace, now: clock } = resolveOptions(options, 'idem: durableObjectStore()');

  async function perform(operation: Operation): Promise<Reply> {
    const stub = namespace.get(namespace.idFromName(operation.key)) as Stub;
    try {
      return await stub.perform(clock ? { ...operation, now: clock() } : operation);
    } catch (error) {
      const message = String((error as { message?: unknown })?.message);
      if (message.includes('new_sqlite_classes')) {
        throw new ConfigurationError(`durableObjectStore: ${NEEDS_SQLITE}`, { cause: error });
      }
      if (message.includes('workerd export condition')) {
        // The object class came from the package's entry for other runtimes.
        throw new ConfigurationError(message.replace(/^[\w ]*Error: /, ''), { cause: error });
      }
      if (/does not (support|implement)|not a function|perform/i.test(message)) {
        throw new ConfigurationError(
          "durableObjectStore: the namespace's objects do not answer the store's calls. Bind it to the class the package exports: `export { IdempotencyObject } from '@idem/store-durable-objects'` in your Worker's main module, with class_name = \"IdempotencyObject\", and bundle with the workerd export condition (wrangler does).",
          { cause: error },
        );
      }
      throw error;
    }
  }

  const owner = async (operation: Operation): Promise<OwnerResult> =>
    (await perform(operation)) === 'ok' ? 'ok' : 'stale';

  return {
    maxResponseBytes: MAX_BODY,

    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const { fingerprint, token, leaseMs } = request;
      const reply = (await perform({ type: 'claim', key, fingerprint, token, leaseMs })) as
        | ClaimResult
        | undefined;
      if (reply?.claimed === true) return { claimed: true };
      if (reply?.claimed === false) return { claimed: false, record: recordOf(reply.record) };
      throw new Error(`durableObjectStore: unexpected claim reply ${JSON.stringify(reply)}`);
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      const size = response.body.byteLength;
      if (size > MAX_BODY) throw new ResponseTooLargeError(size, MAX_BODY);
      const headers = encoder.encode(JSON.stringify(response.headers)).byteLength;
      // The row after completion, checked before sending so an oversized
      // result never costs a call (SQLite would refuse it).
      const rowBytes = ROW_FIXED_BYTES + encoder.encode(key).byteLength + headers + size;
      if (rowBytes > ROW_LIMIT) throw new ResponseTooLargeError(rowBytes, ROW_LIMIT);
      const { status, body } = response;
      // A fresh plain object: RPC clones every property, and a body that is a
      // view into a larger buffer would send the whole buffer.
      const sent: StoredResponse = {
        status,
        headers: response.headers.map(([name, value]) => [name, value] as const),
        body: body.byteLength === body.buffer.byteLength ? body : body.slice(),
      };
      return owner({ type: 'complete', key, token, response: sent, ttlMs });
    },

    release(key: string, token: string): Promise<OwnerResult> {
      return owner({ type: 'release', key, token });
    },

    renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      return owner({ type: 'renew', key, token, leaseMs });
    },

    async remove(key: string): Promise<void> {
      await perform({ type: 'remove', key });
    },

    async read(key: string): Promise<StoredRecord | undefined> {
      const reply = (await perform({ type: 'read', key })) as StoredRecord | null;
      return reply ? recordOf(reply) : undefined;
    },
  };
}

/**
 * A plain copy of a record from the RPC reply (miniflare's Node proxy hands
 * out proxies of reply objects; workerd hands out structured clones).
 */
function recordOf(record: StoredRecord): StoredRecord {
  if (record.state === 'in_progress') {
    const { fingerprint, leaseExpiresAt } = record;
    return { state: 'in_progress', fingerprint, leaseExpiresAt };
  }
  const { status, headers, body } = record.response;
  return {
    state: 'completed',
    fingerprint: record.fingerprint,
    expiresAt: record.expiresAt,
    response: {
      status,
      headers: headers.map(([name, value]) => [name, value] as const),
      body: body instanceof Uint8Array ? body : new Uint8Array(body as ArrayLike<number>),
    },
  };
}
