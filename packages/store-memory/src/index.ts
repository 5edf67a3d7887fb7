import {
  ABSENT,
  type ClaimRequest,
  type ClaimResult,
  ConfigurationError,
  type LifecycleEvent,
  type OwnerResult,
  observe,
  type RecordState,
  refuseUnknownOptions,
  type Store,
  type StoredRecord,
  type StoredResponse,
  StoreUnavailableError,
  toRecord,
  transition,
} from '@idem/core';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most records kept at once. When full, expired records are swept first,
   * then the oldest completed records are evicted, 1% of `maxRecords` at a
   * time so the walk is not repeated on every claim. In-flight records are never
   * evicted (that could run an operation twice): a store full of them refuses
   * new claims until leases end.
   * @default 100_000
   */
  readonly maxRecords?: number;
  /**
   * The store's clock, in epoch milliseconds. Inject one to test expiry.
   * @default Date.now
   */
  readonly now?: () => number;
}

/** A {@link Store} kept in this process's memory, with a few extras for tests and ops. */
export interface MemoryStore extends Store {
  /** Records currently held, live or not yet swept. */
  readonly size: number;
  /** Delete every expired record now; returns how many were deleted. */
  sweep(): number;
  /** Delete everything. */
  clear(): void;
}

/**
 * A record as it leaves the store: a body of its own (bytes cannot be
 * frozen), so a caller that changes a replayed body never changes the next replay.
 */
function handOut(record: StoredRecord): StoredRecord {
  if (record.state !== 'completed') return record;
  const { response } = record;
  return { ...record, response: { ...response, body: response.body.slice() } };
}

/**
 * The reference store: every operation is one synchronous step on a `Map`, so
 * it is atomic within a process (JavaScript runs it to completion). Records
 * are not shared between processes or isolates: use it for one instance,
 * tests and the demo, and a network store when you run several instances.
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  refuseUnknownOptions(options, ['maxRecords', 'now'], 'memoryStore');
  const maxRecords = options.maxRecords ?? 100_000;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(maxRecords) || maxRecords < 1) {
    throw new ConfigurationError(
      `memoryStore: maxRecords must be a positive integer, got ${maxRecords}.`,
    );
  }
  if (typeof now !== 'function') {
    throw new ConfigurationError(
      'memoryStore: now must be a function returning epoch milliseconds, such as Date.now.',
    );
  }
  // Map iteration order is insertion order; completions re-insert, so the
  // front holds the oldest records: the first to expire and to be evicted.
  const records = new Map<string, RecordState>();

  function apply<E extends LifecycleEvent>(key: string, event: E) {
    const before = records.get(key) ?? ABSENT;
    const { next, result } = transition(before, event);
    if (next === before) return result;
    records.delete(key);
    if (next.state !== 'absent') records.set(key, next);
    return result;
  }

  function sweep(): number {
    const t = now();
    let deleted = 0;
    for (const [key, state] of records) {
      if (observe(state, t).state === 'absent') {
        records.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  // When full, free a little more than one slot: the walks below then run once
  // per `slack` new records, not on every claim.
  const slack = Math.max(1, Math.floor(maxRecords / 100));

  function makeRoom(): void {
    if (records.size < maxRecords) return;
    const target = maxRecords - slack;
    const t = now();
    // Expired records first (they are gone already), then the oldest completed
    // ones; Map order is insertion order, and completions re-insert.
    for (const [key, state] of records) {
      if (records.size <= target) return;
      if (observe(state, t).state === 'absent') records.delete(key);
    }
    for (const [key, state] of records) {
      if (records.size <= target) return;
      if (state.state === 'completed') records.delete(key);
    }
    if (records.size >= maxRecords) {
      throw new StoreUnavailableError(
        'claim',
        new Error(`memoryStore is full of ${maxRecords} in-flight records; raise maxRecords.`),
      );
    }
  }

  return {
    inProcess: true,
    get size() {
      return records.size;
    },
    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const current = records.get(key);
      if (current === undefined || observe(current, now()).state === 'absent') makeRoom();
      const { fingerprint, token, leaseMs } = request;
      const result = apply(key, { type: 'claim', now: now(), fingerprint, token, leaseMs });
      return result.claimed ? result : { claimed: false, record: handOut(result.record) };
    },
    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      // Kept as a copy with frozen headers: what the caller holds can change
      // nothing here, and the headers can be handed out without copying.
      const copy: StoredResponse = {
        status: response.status,
        headers: Object.freeze(response.headers.map(([n, v]) => Object.freeze([n, v] as const))),
        body: response.body.slice(),
      };
      return apply(key, { type: 'complete', now: now(), token, response: copy, ttlMs });
    },
    async release(key: string, token: string): Promise<OwnerResult> {
      return apply(key, { type: 'release', now: now(), token });
    },
    async remove(key: string): Promise<void> {
      records.delete(key);
    },
    async renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      return apply(key, { type: 'renew', now: now(), token, leaseMs });
    },
    async read(key: string): Promise<StoredRecord | undefined> {
      const state = records.get(key);
      if (state === undefined) return undefined;
      const live = observe(state, now());
      if (live.state === 'absent') {
        records.delete(key);
        return undefined;
      }
      return handOut(toRecord(live)!);
    },
    sweep,
    clear() {
      records.clear();
    },
  };
}
