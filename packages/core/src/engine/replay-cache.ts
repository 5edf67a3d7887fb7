import { defineOptions, option } from '../options/define.js';
import { positive, positiveMs, whole } from '../options/rules.js';
import type { Store, StoredResponse } from '../store/contract.js';
import type { ReplayCacheOptions, ResolvedReplayCache } from './options.js';

/** A completed record as the cache keeps it. */
export interface CachedRecord {
  readonly fingerprint: string;
  readonly response: StoredResponse;
}

/** An entry, linked in recency order: a Map iterated from its front slows down as deletions leave holes there. */
interface Entry extends CachedRecord {
  readonly storeKey: string;
  /** When the store call that returned it started (epoch ms of this process). */
  readonly since: number;
  /** Served while `now < deadline`. */
  readonly deadline: number;
  readonly size: number;
  /** Less recently used neighbour, or `undefined` for the least recent. */
  older: Entry | undefined;
  /** More recently used neighbour, or `undefined` for the most recent. */
  newer: Entry | undefined;
}

/**
 * Keys an operator deleted or inspected in this process, per store object, so
 * every engine of the process on that store reads them from the store again.
 * Kept only as long as an entry older than the deletion may live.
 */
interface Forgotten {
  readonly at: Map<string, number>;
  horizonMs: number;
}

const forgottenByStore = new WeakMap<Store, Forgotten>();

/**
 * Tell the caches of this process on `store` that `storeKey` changed behind
 * their back: entries of it read or stored before now are no longer served.
 * Other processes are not reached (their entries expire within `maxAgeMs`).
 */
export function forgetCached(store: Store, storeKey: string): void {
  const forgotten = forgottenByStore.get(store);
  if (forgotten === undefined) return;
  const now = Date.now();
  for (const [key, at] of forgotten.at) {
    if (at + forgotten.horizonMs < now) forgotten.at.delete(key);
  }
  forgotten.at.set(storeKey, now);
}

/**
 * The bytes, in a buffer of their own. Not `slice()`: on a Node `Buffer` it
 * is a view, which would share the caller's bytes and keep its whole 8 KiB
 * allocation pool alive.
 */
const copyOf = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);

function sizeOf(storeKey: string, fingerprint: string, response: StoredResponse): number {
  let size = response.body.byteLength + storeKey.length + fingerprint.length;
  for (const [name, value] of response.headers) size += name.length + value.length;
  return size;
}

/** One engine's replay cache, over one store: what the engine asks of it. */
export interface CachedReplays {
  /** The live entry of `storeKey`, marked most recently used; its body is a copy. */
  get(storeKey: string, now: number): CachedRecord | undefined;
  /**
   * Keep a completed record a replay got from the store; `since` is when
   * that store call started, `expiresAt` the record's expiry.
   */
  put(storeKey: string, record: CachedRecord, since: number, expiresAt: number): void;
}

/**
 * The `cache` option's value, made by {@link replayCache}: the limits, and the
 * code of the cache. A bundle that never calls `replayCache()` leaves that
 * code out (Workers pay nothing for it).
 */
export interface ReplayCache {
  /** The limits in force, defaults filled in. */
  readonly limits: ResolvedReplayCache;
  /**
   * An empty cache of records read from `store`; each engine opens its own,
   * so engines sharing one `replayCache()` never share entries.
   * @internal
   */
  open(store: Store): CachedReplays;
}

// Pure: a bundle with the operators (forgetCached) but no cache drops it.
const resolveLimits = /* @__PURE__ */ defineOptions({
  entries: option(whole('records', 1), 10_000),
  bytes: option(positive('bytes'), 64 * 1024 * 1024),
  maxAgeMs: option(positiveMs, 60_000),
});

/**
 * Turn on the in-process replay cache: `createIdempotency({ store, cache:
 * replayCache() })` with the default limits, `replayCache({ entries, bytes,
 * maxAgeMs })` with others (see {@link ReplayCacheOptions}). Throws a
 * `ConfigurationError` that names the fix for a limit it cannot use.
 */
export function replayCache(limits: ReplayCacheOptions = {}): ReplayCache {
  const resolved: ResolvedReplayCache = resolveLimits(limits, 'idem: replayCache()');
  return { limits: resolved, open: (store) => new RecordCache(store, resolved) };
}

/**
 * The replay cache: completed records this process replayed from the store
 * (a record enters on its first replay, never at its completion), least
 * recently used evicted first. Never serves an entry at or past its
 * deadline, nor one an operator forgot since it was read.
 */
class RecordCache implements CachedReplays {
  readonly #limits: ResolvedReplayCache;
  readonly #entries = new Map<string, Entry>();
  readonly #forgotten: Forgotten;
  #bytes = 0;
  /** The least and the most recently used entries. */
  #oldest: Entry | undefined;
  #newest: Entry | undefined;

  constructor(store: Store, limits: ResolvedReplayCache) {
    this.#limits = limits;
    let forgotten = forgottenByStore.get(store);
    if (forgotten === undefined) {
      forgotten = { at: new Map(), horizonMs: 0 };
      forgottenByStore.set(store, forgotten);
    }
    forgotten.horizonMs = Math.max(forgotten.horizonMs, limits.maxAgeMs);
    this.#forgotten = forgotten;
  }

  /** The live entry of `storeKey`, marked most recently used; its body is a copy. */
  get(storeKey: string, now: number): CachedRecord | undefined {
    const entry = this.#entries.get(storeKey);
    if (entry === undefined) return undefined;
    const forgottenAt = this.#forgotten.at.size > 0 ? this.#forgotten.at.get(storeKey) : undefined;
    if (now >= entry.deadline || (forgottenAt !== undefined && forgottenAt >= entry.since)) {
      this.#remove(entry);
      return undefined;
    }
    if (entry !== this.#newest) {
      this.#unlink(entry);
      this.#append(entry);
    }
    // A copy: whoever sends or decodes the body cannot change later replays.
    const { status, headers, body } = entry.response;
    return { fingerprint: entry.fingerprint, response: { status, headers, body: copyOf(body) } };
  }

  /**
   * Keep a completed record a replay got from the store. `since` is when
   * that store call started; the entry is served until `expiresAt` (the
   * record's own expiry, never later) or `since + maxAgeMs`, whichever is
   * first. Without a usable expiry (not a number), nothing is kept.
   */
  put(storeKey: string, record: CachedRecord, since: number, expiresAt: number): void {
    const previous = this.#entries.get(storeKey);
    if (previous !== undefined) this.#remove(previous);
    const { fingerprint, response } = record;
    const deadline = Math.min(expiresAt, since + this.#limits.maxAgeMs);
    const size = sizeOf(storeKey, fingerprint, response);
    // `!(a > b)`: a NaN deadline (an expiry the store did not report) is refused too.
    if (!(deadline > since) || size > this.#limits.bytes) return;
    const copy: StoredResponse = {
      status: response.status,
      headers: Object.freeze(response.headers.map(([n, v]) => Object.freeze([n, v] as const))),
      body: copyOf(response.body),
    };
    const entry: Entry = {
      storeKey,
      fingerprint,
      response: copy,
      since,
      deadline,
      size,
      older: undefined,
      newer: undefined,
    };
    this.#entries.set(storeKey, entry);
    this.#append(entry);
    this.#bytes += size;
    const { entries, bytes } = this.#limits;
    while (this.#oldest !== undefined && (this.#entries.size > entries || this.#bytes > bytes)) {
      this.#remove(this.#oldest);
    }
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry.storeKey);
    this.#unlink(entry);
    this.#bytes -= entry.size;
  }

  #append(entry: Entry): void {
    entry.older = this.#newest;
    entry.newer = undefined;
    if (this.#newest === undefined) this.#oldest = entry;
    else this.#newest.newer = entry;
    this.#newest = entry;
  }

  #unlink(entry: Entry): void {
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.#newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = undefined;
    entry.newer = undefined;
  }
}
