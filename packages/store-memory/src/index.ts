import {
  ABSENT,
  type ClaimRequest,
  type ClaimResult,
  clock,
  defineOptions,
  type LifecycleEvent,
  type OwnerResult,
  observe,
  option,
  type RecordState,
  type Store,
  type StoredRecord,
  type StoredResponse,
  StoreUnavailableError,
  toRecord,
  transition,
  whole,
} from '@idem/core/store';
import { Completed, Heads, Slabs } from './completed.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most records kept at once. When full, expired records are swept first,
   * then the oldest completed records (the first claimed) are evicted, 1% of
   * `maxRecords` at a time so the walk is not repeated on every claim.
   * In-flight records are never evicted (that could run an operation twice):
   * a store full of them refuses new claims until leases end.
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

const resolveOptions = defineOptions({
  maxRecords: option(whole('records', 1), 100_000),
  now: option(clock, Date.now),
});

/** The answer to every successful claim, shared: a fresh key allocates none. */
const CLAIMED: ClaimResult = Object.freeze({ claimed: true });

/**
 * The reference store: every operation is one synchronous step on a `Map`, so
 * it is atomic within a process (JavaScript runs it to completion). Records
 * are not shared between processes or isolates: use it for one instance,
 * tests and the demo, and a network store when you run several instances.
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const { maxRecords, now } = resolveOptions(options, 'idem: memoryStore()');
  // Map iteration order is insertion order, so the front holds the oldest
  // claims: the first to expire and to be evicted. A completion replaces its
  // record in place rather than re-inserting it: a delete would leave a dead
  // entry in the table until V8 rebuilds it, and rebuilds of a big table cost
  // memory and time. Completed records are kept compactly (see ./completed.ts).
  const records = new Map<string, RecordState>();
  const slabs = new Slabs();
  const heads = new Heads();

  function drop(key: string, state: RecordState): void {
    records.delete(key);
    if (state instanceof Completed) slabs.forget(state);
  }

  // Claims on held keys, releases and renewals run on the lifecycle's
  // transition function; fresh claims and completions are written out below.
  function apply<E extends Exclude<LifecycleEvent, { type: 'complete' }>>(key: string, event: E) {
    const before = records.get(key) ?? ABSENT;
    const { next, result } = transition(before, event);
    if (next === before) return result;
    drop(key, before);
    if (next.state !== 'absent') records.set(key, next);
    return result;
  }

  /** A completed record with a copy of `response`, so what the caller holds can change nothing here. */
  function keep(fingerprint: string, expiresAt: number, response: StoredResponse): Completed {
    const head = heads.intern(response.status, response.headers);
    return slabs.keep(fingerprint, expiresAt, head, response.body);
  }

  // Moves every kept body out of slabs with garbage, deleting expired records
  // on the way. It walks all records, but only once slabs hold more garbage
  // than live bytes, so its cost is a few steps per record kept since.
  function compact(): void {
    const t = now();
    for (const [key, state] of records) {
      if (!(state instanceof Completed)) continue;
      if (observe(state, t).state === 'absent') drop(key, state);
      else slabs.move(state);
    }
  }

  function sweep(): number {
    const t = now();
    let deleted = 0;
    for (const [key, state] of records) {
      if (observe(state, t).state === 'absent') {
        drop(key, state);
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
    // Expired records first (they are gone already), then the completed ones
    // claimed first.
    for (const [key, state] of records) {
      if (records.size <= target) return;
      if (observe(state, t).state === 'absent') drop(key, state);
    }
    for (const [key, state] of records) {
      if (records.size <= target) return;
      if (state.state === 'completed') drop(key, state);
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
      const { fingerprint, token, leaseMs } = request;
      const current = records.get(key);
      if (current === undefined) {
        // A fresh key, the common case: the lifecycle's claim of an absent
        // record, without its event, transition and answer objects.
        makeRoom();
        records.set(key, {
          state: 'in_progress',
          fingerprint,
          token,
          leaseExpiresAt: now() + leaseMs,
        });
        return CLAIMED;
      }
      const live = observe(current, now());
      // A replay: the lifecycle refuses the claim with the live completed
      // record, and `toRecord` gives it a fresh copy of the body.
      if (live.state === 'completed') return { claimed: false, record: toRecord(live)! };
      if (live.state === 'absent') makeRoom();
      return apply(key, { type: 'claim', now: now(), fingerprint, token, leaseMs });
    },
    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      // The lifecycle's complete: only the owner of the live in-progress
      // record completes it; the response goes straight into its compact form.
      const t = now();
      const current = records.get(key);
      const owned =
        current?.state === 'in_progress' && current.token === token && t < current.leaseExpiresAt;
      if (!owned) return 'stale';
      records.set(key, keep(current.fingerprint, t + ttlMs, response));
      if (slabs.fragmented) compact();
      return 'ok';
    },
    async release(key: string, token: string): Promise<OwnerResult> {
      return apply(key, { type: 'release', now: now(), token });
    },
    async remove(key: string): Promise<void> {
      const state = records.get(key);
      if (state !== undefined) drop(key, state);
    },
    async renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      return apply(key, { type: 'renew', now: now(), token, leaseMs });
    },
    async read(key: string): Promise<StoredRecord | undefined> {
      const state = records.get(key);
      if (state === undefined) return undefined;
      const live = observe(state, now());
      if (live.state === 'absent') {
        drop(key, state);
        return undefined;
      }
      // For a completed record, a fresh copy of the body (see Completed).
      return toRecord(live);
    },
    sweep,
    clear() {
      records.clear();
      slabs.clear();
      heads.clear();
    },
  };
}
