import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fcOptions } from '../../test/fc.js';
import { type StoreOperation, type TestStore, testStore } from '../../test/store.js';
import { utf8 } from '../bytes.js';
import {
  ConfigurationError,
  FingerprintMismatchError,
  isIdempotencyError,
  RequestInFlightError,
  ResponseNotStoredError,
  RolledBackError,
} from '../errors.js';
import type { IdempotencyHooks } from '../hooks.js';
import { createHttpIdempotency, type HttpRequest } from '../http/handler.js';
import { scopedKey } from '../scope.js';
import type { StoredResponse } from '../store/contract.js';
import type { Execution } from './execution.js';
import { notStoredMarker } from './not-stored.js';
import type { IdempotencyOptions, ReplayCacheOptions } from './options.js';
import { type ReplayCache, replayCache } from './replay-cache.js';
import { createIdempotency, type Idempotency } from './run.js';

/** testStore with the operators' remove, as every idem store has it. */
function storeWithRemove(): TestStore & { remove(storeKey: string): Promise<void> } {
  const store = testStore();
  return Object.assign(store, {
    async remove(storeKey: string) {
      store.records.delete(storeKey);
    },
  });
}

/** Store calls made so far, of every operation. */
const callsOf = (store: TestStore) => Object.values(store.calls).reduce((a, b) => a + b, 0);

/** What the store saw while `action` ran: calls of each operation, those never called left out. */
async function seenBy<T>(
  store: TestStore,
  action: () => Promise<T>,
): Promise<[T, Partial<Record<StoreOperation, number>>]> {
  const before = { ...store.calls };
  const result = await action();
  const seen: Partial<Record<StoreOperation, number>> = {};
  for (const [operation, n] of Object.entries(store.calls) as Array<[StoreOperation, number]>) {
    if (n > before[operation]) seen[operation] = n - before[operation];
  }
  return [result, seen];
}

/** Every hook event, in order. */
function recorder() {
  const names: Array<keyof IdempotencyHooks> = [
    'started',
    'finished',
    'executed',
    'replayed',
    'inFlight',
    'mismatch',
    'released',
    'storeCall',
    'storeError',
    'leaseLost',
    'completionFailed',
  ];
  const events: Array<{ name: string; event: Record<string, unknown> }> = [];
  const hooks = Object.fromEntries(
    names.map((name) => [name, (event: Record<string, unknown>) => events.push({ name, event })]),
  ) as IdempotencyHooks;
  const named = (name: string) => events.filter((e) => e.name === name).map((e) => e.event);
  return { events, hooks, named };
}

/** The `cache` option for these limits: `replayCache(limits)`, or `false`. */
const cacheOf = (limits: ReplayCacheOptions | false): ReplayCache | false =>
  limits === false ? false : replayCache(limits);

function setup(limits: ReplayCacheOptions | false = {}, options: Partial<IdempotencyOptions> = {}) {
  const store = storeWithRemove();
  const rec = recorder();
  const cache = cacheOf(limits);
  const idem = createIdempotency({ store, hooks: rec.hooks, logger: false, cache, ...options });
  return { store, idem, ...rec };
}

const response = (text: string, status = 201): StoredResponse => ({
  status,
  headers: [['content-type', 'text/plain']],
  body: utf8(text),
});

const text = (r: StoredResponse) => new TextDecoder().decode(r.body);

/** Begin a request that must execute, and complete it with `answer`. */
async function executeAndComplete(
  idem: Idempotency,
  input: { scope?: string; key: string; fingerprint?: string; ttlMs?: number },
  answer: StoredResponse,
): Promise<void> {
  const decision = await idem.begin({ scope: '', fingerprint: 'f', ...input });
  expect(decision.kind).toBe('execute');
  await (decision as Execution).complete(answer);
}

/** Begin a request and report what it got: a replay's body, `execute`, or an error code. */
async function outcome(
  idem: Idempotency,
  input: { scope?: string; key: string; fingerprint?: string },
): Promise<string> {
  try {
    const decision = await idem.begin({ scope: '', fingerprint: 'f', ...input });
    if (decision.kind === 'replay') return `replay ${text(decision.response)}`;
    await decision.release();
    return 'execute';
  } catch (error) {
    if (isIdempotencyError(error)) return error.code;
    throw error;
  }
}

type Input = { scope?: string; key: string; fingerprint?: string };

/** {@link outcome}, checking what the store saw meanwhile. */
async function outcomeSeeing(
  seen: Partial<Record<StoreOperation, number>>,
  idem: Idempotency,
  store: TestStore,
  input: Input,
): Promise<string> {
  const [got, calls] = await seenBy(store, () => outcome(idem, input));
  expect(calls).toEqual(seen);
  return got;
}

/**
 * A request the store answers with one claim, no read, nothing else: the
 * first replay of a completed key in this process, which fills the cache
 * (when the record may be kept).
 */
const replayFromStore = (idem: Idempotency, store: TestStore, input: Input) =>
  outcomeSeeing({ claim: 1 }, idem, store, input);

/** A request the cache answers: the store sees nothing. */
const replayFromCache = (idem: Idempotency, store: TestStore, input: Input) =>
  outcomeSeeing({}, idem, store, input);

afterEach(() => {
  vi.useRealTimers();
});

describe('replay cache: a result enters on its first replay from the store', () => {
  it('a result completed here is not cached until its first replay from the store', async () => {
    const { store, idem, named } = setup();
    const [, completing] = await seenBy(store, () =>
      executeAndComplete(idem, { key: 'k' }, response('paid')),
    );
    expect(completing).toEqual({ claim: 1, complete: 1 });
    // Replay 1: the cache is still empty, so the store answers, with one claim and no read.
    const [first, replay1] = await seenBy(store, () => outcome(idem, { key: 'k' }));
    expect(first).toBe('replay paid');
    expect(replay1).toEqual({ claim: 1 });
    // Replay 2: from the cache, which the first replay filled.
    const [second, replay2] = await seenBy(store, () => outcome(idem, { key: 'k' }));
    expect(second).toBe('replay paid');
    expect(replay2).toEqual({});
    expect(named('replayed').map((e) => e.cached)).toEqual([false, true]);
    expect(named('storeCall').map((e) => e.operation)).toEqual(['claim', 'complete', 'claim']);
  });

  it('after its first replay, a record makes zero store calls, byte for byte', async () => {
    const { store, idem, named } = setup();
    await executeAndComplete(idem, { key: 'k' }, response('paid'));
    expect(await replayFromStore(idem, store, { key: 'k' })).toBe('replay paid');
    const before = callsOf(store);
    const storeCalls = named('storeCall').length;
    for (let i = 0; i < 3; i++) {
      const decision = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
      expect(decision).toMatchObject({ kind: 'replay', response: { status: 201 } });
      if (decision.kind !== 'replay') return;
      expect(text(decision.response)).toBe('paid');
      expect(decision.response.headers).toEqual([['content-type', 'text/plain']]);
    }
    expect(callsOf(store)).toBe(before);
    expect(named('storeCall')).toHaveLength(storeCalls);
    expect(named('replayed')).toEqual([
      expect.objectContaining({ cached: false, stored: true, status: 201 }),
      ...Array(3).fill(expect.objectContaining({ cached: true, stored: true, status: 201 })),
    ]);
    expect(named('finished').slice(-3)).toEqual(
      Array(3).fill(expect.objectContaining({ outcome: 'replayed', status: 201 })),
    );
    expect(named('started')).toHaveLength(5);
  });

  it('run() replays from the store once, then from the cache', async () => {
    const { store, idem } = setup();
    let runs = 0;
    const op = () => ({ charge: ++runs });
    expect(await idem.run('order-1', op, { scope: 'payments' })).toEqual({
      kind: 'executed',
      value: { charge: 1 },
    });
    const [first, seen] = await seenBy(store, () => idem.run('order-1', op, { scope: 'payments' }));
    expect(first).toEqual({ kind: 'replayed', value: { charge: 1 } });
    expect(seen).toEqual({ claim: 1 });
    const before = callsOf(store);
    expect(await idem.run('order-1', op, { scope: 'payments' })).toEqual({
      kind: 'replayed',
      value: { charge: 1 },
    });
    expect(callsOf(store)).toBe(before);
    expect(runs).toBe(1);
  });

  it('a record another process completed is kept at its first replay here', async () => {
    const store = storeWithRemove();
    const writer = createIdempotency({ store, logger: false });
    await executeAndComplete(writer, { key: 'k' }, response('from elsewhere'));
    const rec = recorder();
    const reader = createIdempotency({
      store,
      hooks: rec.hooks,
      logger: false,
      cache: replayCache(),
    });
    expect(await replayFromStore(reader, store, { key: 'k' })).toBe('replay from elsewhere');
    expect(await replayFromCache(reader, store, { key: 'k' })).toBe('replay from elsewhere');
    expect(rec.named('replayed').map((e) => e.cached)).toEqual([false, true]);
  });

  it('what a caller does to a replayed body never changes the next replay', async () => {
    const { store, idem } = setup();
    await executeAndComplete(idem, { key: 'k' }, response('abc'));
    // The first replay hands out the store's own bytes (this test store keeps
    // references): the cache copied them in.
    const first = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    if (first.kind !== 'replay') throw new Error('expected a replay');
    first.response.body.fill(0);
    const second = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    if (second.kind !== 'replay') throw new Error('expected a replay');
    expect(text(second.response)).toBe('abc');
    // And each hit hands out a copy of its own.
    second.response.body.fill(0);
    expect(await replayFromCache(idem, store, { key: 'k' })).toBe('replay abc');
  });

  it("a store's pooled Node Buffer is copied in (its slice() is a view), not kept with its whole pool", async () => {
    const { store, idem } = setup();
    // A small Buffer is a view into an 8 KiB pool shared with later allocations.
    const pooled = Buffer.from('abc');
    expect(pooled.buffer.byteLength).toBeGreaterThan(3);
    await executeAndComplete(idem, { key: 'k' }, { status: 200, headers: [], body: pooled });
    // The store hands the pooled Buffer back, as a client reading into its pool would.
    const first = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    if (first.kind !== 'replay') throw new Error('expected a replay');
    expect(first.response.body.buffer).toBe(pooled.buffer);
    pooled.fill(0);
    const replay = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    if (replay.kind !== 'replay') throw new Error('expected a replay');
    expect(text(replay.response)).toBe('abc');
    expect(replay.response.body.buffer.byteLength).toBe(3);
    expect(store.calls.claim).toBe(2);
  });

  it('is off by default: every replay asks the store', async () => {
    const store = storeWithRemove();
    const idem = createIdempotency({ store, logger: false });
    expect(idem.options.cache).toBe(false);
    await executeAndComplete(idem, { key: 'k' }, response('x'));
    await outcome(idem, { key: 'k' });
    await outcome(idem, { key: 'k' });
    expect(store.calls.claim).toBe(3);
  });
});

describe('replay cache: never past a record’s expiry', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_700_000_000_000 });
  });

  it("a record completed here, cached at its first replay, is served until the store's expiresAt", async () => {
    const { store, idem } = setup({}, { leaseMs: 1_000, ttlMs: 5_000 });
    await executeAndComplete(idem, { key: 'k' }, response('one'));
    vi.setSystemTime(Date.now() + 1_000);
    expect(await replayFromStore(idem, store, { key: 'k' })).toBe('replay one');
    // Not 5 s from the first replay: the record itself expires 5 s after its completion.
    vi.setSystemTime(Date.now() + 3_999);
    expect(await replayFromCache(idem, store, { key: 'k' })).toBe('replay one');
    vi.setSystemTime(Date.now() + 1);
    // The expiry instant itself counts as expired, in the cache as in the store.
    const claims = store.calls.claim;
    expect(await outcome(idem, { key: 'k' })).toBe('execute');
    expect(store.calls.claim).toBe(claims + 1);
  });

  it("a request's own ttlMs bounds its entry", async () => {
    const { store, idem } = setup({}, { leaseMs: 1_000 });
    await executeAndComplete(idem, { key: 'k', ttlMs: 2_000 }, response('short'));
    expect(await replayFromStore(idem, store, { key: 'k' })).toBe('replay short');
    vi.setSystemTime(Date.now() + 1_999);
    expect(await replayFromCache(idem, store, { key: 'k' })).toBe('replay short');
    vi.setSystemTime(Date.now() + 1);
    expect(await outcome(idem, { key: 'k' })).toBe('execute');
  });

  it("a record read from the store is served until the store's expiresAt, not maxAgeMs later", async () => {
    const store = storeWithRemove();
    const writer = createIdempotency({ store, logger: false, leaseMs: 1_000, ttlMs: 10_000 });
    await executeAndComplete(writer, { key: 'k' }, response('old'));
    vi.setSystemTime(Date.now() + 9_000);
    const reader = createIdempotency({
      store,
      logger: false,
      cache: replayCache({ maxAgeMs: 60_000 }),
    });
    expect(await replayFromStore(reader, store, { key: 'k' })).toBe('replay old');
    vi.setSystemTime(Date.now() + 999);
    expect(await replayFromCache(reader, store, { key: 'k' })).toBe('replay old');
    vi.setSystemTime(Date.now() + 1);
    expect(await outcome(reader, { key: 'k' })).toBe('execute');
  });

  it('maxAgeMs, counted from the first replay, bounds how long a record deleted behind this process’s back is replayed', async () => {
    const { store, idem } = setup({ maxAgeMs: 3_000 });
    await executeAndComplete(idem, { key: 'k' }, response('gone'));
    vi.setSystemTime(Date.now() + 500);
    expect(await replayFromStore(idem, store, { key: 'k' })).toBe('replay gone');
    // Another process's operator deletes it: this process cannot know.
    store.records.clear();
    vi.setSystemTime(Date.now() + 2_999);
    expect(await replayFromCache(idem, store, { key: 'k' })).toBe('replay gone');
    vi.setSystemTime(Date.now() + 1);
    expect(await outcome(idem, { key: 'k' })).toBe('execute');
  });

  it('a record the store reports without an expiry is not cached', async () => {
    const store = storeWithRemove();
    const writer = createIdempotency({ store, logger: false });
    await executeAndComplete(writer, { key: 'k' }, response('x'));
    const claim = store.claim.bind(store);
    store.claim = async (key, request) => {
      const result = await claim(key, request);
      if (result.claimed || result.record.state !== 'completed') return result;
      return { claimed: false, record: { ...result.record, expiresAt: Number.NaN } };
    };
    const reader = createIdempotency({ store, logger: false, cache: replayCache() });
    await outcome(reader, { key: 'k' });
    await outcome(reader, { key: 'k' });
    expect(store.calls.claim).toBe(3);
  });
});

describe('replay cache: bounded by entries and bytes', () => {
  it('evicts the least recently used record past `entries`', async () => {
    const { store, idem } = setup({ entries: 2 });
    await executeAndComplete(idem, { key: 'a' }, response('A'));
    await executeAndComplete(idem, { key: 'b' }, response('B'));
    await executeAndComplete(idem, { key: 'c' }, response('C'));
    // Completing filled nothing: three completed records, an empty cache.
    expect(await replayFromStore(idem, store, { key: 'a' })).toBe('replay A');
    expect(await replayFromStore(idem, store, { key: 'b' })).toBe('replay B');
    expect(await replayFromCache(idem, store, { key: 'a' })).toBe('replay A'); // a is now the most recent
    expect(await replayFromStore(idem, store, { key: 'c' })).toBe('replay C'); // evicts b
    expect(await replayFromCache(idem, store, { key: 'a' })).toBe('replay A');
    expect(await replayFromCache(idem, store, { key: 'c' })).toBe('replay C');
    expect(await replayFromStore(idem, store, { key: 'b' })).toBe('replay B'); // back, evicting a
    expect(await replayFromCache(idem, store, { key: 'b' })).toBe('replay B');
    expect(await replayFromStore(idem, store, { key: 'a' })).toBe('replay A');
  });

  it('evicts past `bytes`, and never caches a record larger than `bytes`', async () => {
    const storeKey = await scopedKey('', 'a');
    // What one record of a 100-byte body counts: body, header, store key, fingerprint.
    const size = 100 + 'content-type'.length + 'text/plain'.length + storeKey.length + 1;
    const { store, idem } = setup({ bytes: 2 * size + 10 });
    for (const key of ['a', 'b', 'c']) {
      await executeAndComplete(idem, { key }, response(key.repeat(100)));
    }
    await executeAndComplete(idem, { key: 'big' }, response('x'.repeat(3 * size)));
    await replayFromStore(idem, store, { key: 'a' });
    await replayFromStore(idem, store, { key: 'b' });
    await replayFromCache(idem, store, { key: 'a' });
    await replayFromCache(idem, store, { key: 'b' });
    await replayFromStore(idem, store, { key: 'c' }); // evicts a
    await replayFromCache(idem, store, { key: 'c' });
    await replayFromCache(idem, store, { key: 'b' });
    await replayFromStore(idem, store, { key: 'a' }); // from the store again, evicting c (least recent)
    await replayFromStore(idem, store, { key: 'c' }); // evicting b

    // Too big to keep: every replay of it asks the store.
    expect(await replayFromStore(idem, store, { key: 'big' })).toBe(
      `replay ${'x'.repeat(3 * size)}`,
    );
    expect(await replayFromStore(idem, store, { key: 'big' })).toBe(
      `replay ${'x'.repeat(3 * size)}`,
    );
    // Refusing the big one evicted nothing it did not have to.
    await replayFromCache(idem, store, { key: 'a' });
    await replayFromCache(idem, store, { key: 'c' });
  });
});

describe('replay cache: least recently used first, against a model', () => {
  it('hits and misses as a plain list in recency order would, within entries and bytes', () => {
    type Op = { readonly get: boolean; readonly key: string; readonly bodyBytes: number };
    const op = fc.record({
      get: fc.boolean(),
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      bodyBytes: fc.nat(30),
    });
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 2, max: 80 }),
        (ops: Op[], entries, bytes) => {
          const cache = replayCache({ entries, bytes, maxAgeMs: 60_000 }).open(testStore());
          // The model: [key, size] from least to most recently used.
          let model: Array<[string, number]> = [];
          for (const { get, key, bodyBytes } of ops) {
            if (get) {
              const hit = cache.get(key, 0);
              const at = model.findIndex(([k]) => k === key);
              expect(hit !== undefined).toBe(at >= 0);
              if (at >= 0) model.push(...model.splice(at, 1));
              if (hit) expect(hit.response.body.byteLength).toBe(model.at(-1)![1] - 2);
              continue;
            }
            const response = { status: 200, headers: [], body: new Uint8Array(bodyBytes) };
            cache.put(key, { fingerprint: 'f', response }, 0, 1_000);
            // Its size: body, store key and fingerprint (one character each here).
            const size = bodyBytes + 2;
            model = model.filter(([k]) => k !== key);
            if (size > bytes) continue;
            model.push([key, size]);
            const total = () => model.reduce((sum, [, n]) => sum + n, 0);
            while (model.length > entries || total() > bytes) model.shift();
          }
        },
      ),
      fcOptions(300),
    );
  });
});

describe('replay cache: never across scopes or fingerprints', () => {
  it('the same key in another scope goes to the store and runs there, seeing nothing of the first', async () => {
    const { store, idem } = setup();
    await executeAndComplete(idem, { scope: 'tenant-a', key: 'k' }, response('secret of a'));
    expect(await replayFromStore(idem, store, { scope: 'tenant-a', key: 'k' })).toBe(
      'replay secret of a',
    );
    const claims = store.calls.claim;
    expect(await outcome(idem, { scope: 'tenant-b', key: 'k' })).toBe('execute');
    expect(store.calls.claim).toBe(claims + 1);
    expect(await replayFromCache(idem, store, { scope: 'tenant-a', key: 'k' })).toBe(
      'replay secret of a',
    );
  });

  it('a cached record with another fingerprint refuses the request like the store does', async () => {
    const { store, idem, named } = setup();
    await executeAndComplete(idem, { key: 'k', fingerprint: 'f1' }, response('one'));
    expect(await replayFromStore(idem, store, { key: 'k', fingerprint: 'f1' })).toBe('replay one');
    const before = callsOf(store);
    const refused = idem.begin({ scope: '', key: 'k', fingerprint: 'f2' });
    await expect(refused).rejects.toBeInstanceOf(FingerprintMismatchError);
    expect(callsOf(store)).toBe(before);
    expect(named('mismatch')).toHaveLength(1);
    expect(named('finished').at(-1)).toMatchObject({ outcome: 'mismatch' });
    expect(named('replayed')).toEqual([expect.objectContaining({ cached: false })]);
    // And the same through run(): the payload is the fingerprint.
    await idem.run('r', () => 1, { payload: { amount: 5 } });
    expect(await idem.run('r', () => 2, { payload: { amount: 5 } })).toEqual({
      kind: 'replayed',
      value: 1,
    });
    const [refusedRun, seen] = await seenBy(store, () =>
      idem.run('r', () => 2, { payload: { amount: 6 } }).catch((error: unknown) => error),
    );
    expect(refusedRun).toBeInstanceOf(FingerprintMismatchError);
    expect(seen).toEqual({});
  });
});

describe('replay cache: operators', () => {
  it('release({ force }) drops the entry: the next request runs again', async () => {
    const { store, idem } = setup();
    await executeAndComplete(idem, { scope: 't', key: 'k' }, response('first'));
    expect(await replayFromStore(idem, store, { scope: 't', key: 'k' })).toBe('replay first');
    expect(await replayFromCache(idem, store, { scope: 't', key: 'k' })).toBe('replay first');
    expect(await idem.remove({ scope: 't', key: 'k', force: true })).toMatchObject({
      state: 'completed',
    });
    expect(await outcome(idem, { scope: 't', key: 'k' })).toBe('execute');
  });

  it("an operator's engine on the same store reaches the cache of another engine in this process", async () => {
    const store = storeWithRemove();
    const serving = createIdempotency({ store, logger: false, cache: replayCache() });
    const operator = createIdempotency({ store, logger: false });
    await executeAndComplete(serving, { key: 'k' }, response('first'));
    expect(await replayFromStore(serving, store, { key: 'k' })).toBe('replay first');
    expect(await replayFromCache(serving, store, { key: 'k' })).toBe('replay first');
    const storeKey = await scopedKey('', 'k');
    await operator.remove({ storeKey, force: true });
    expect(await outcome(serving, { key: 'k' })).toBe('execute');
  });

  it('inspect drops the entry too, so the next replay is what the store holds', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_700_000_000_000 });
    const { store, idem } = setup();
    await executeAndComplete(idem, { key: 'k' }, response('v1'));
    expect(await replayFromStore(idem, store, { key: 'k' })).toBe('replay v1');
    // Changed behind the engine's back (a second process completing after an operator's release there).
    store.records.delete(await scopedKey('', 'k'));
    const other = createIdempotency({ store, logger: false });
    await executeAndComplete(other, { key: 'k' }, response('v2'));
    expect(await replayFromCache(idem, store, { key: 'k' })).toBe('replay v1');
    expect(await idem.inspect({ scope: '', key: 'k' })).toMatchObject({ state: 'completed' });
    // From the store again, which fills the cache with what it holds now (a
    // record fetched within the inspect's own millisecond would not be trusted).
    vi.setSystemTime(Date.now() + 1);
    expect(await replayFromStore(idem, store, { key: 'k' })).toBe('replay v2');
    expect(await replayFromCache(idem, store, { key: 'k' })).toBe('replay v2');
  });
});

describe('replay cache: only results the store kept', () => {
  it('"ran, not stored" markers are not cached: each retry asks the store', async () => {
    const { store, idem } = setup({}, { maxResponseBytes: 2 });
    await idem.run('k', () => 'far too long');
    const claims = store.calls.claim;
    await expect(idem.run('k', () => 'x')).rejects.toBeInstanceOf(ResponseNotStoredError);
    await expect(idem.run('k', () => 'x')).rejects.toBeInstanceOf(ResponseNotStoredError);
    expect(store.calls.claim).toBe(claims + 2);
    // An explicit marker too.
    const decision = await idem.begin({ scope: '', key: 'm', fingerprint: 'f' });
    await (decision as Execution).complete(notStoredMarker(200, 9));
    expect(await replayFromStore(idem, store, { key: 'm' })).toBe('RESPONSE_NOT_STORED');
    expect(await replayFromStore(idem, store, { key: 'm' })).toBe('RESPONSE_NOT_STORED');
  });

  it('a released key is not cached', async () => {
    const { idem } = setup();
    const decision = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    await (decision as Execution).release('not_kept');
    expect(await outcome(idem, { key: 'k' })).toBe('execute');
  });

  it('a completion that failed is not cached; once a background retry stores it, its first replay caches it', async () => {
    const { store, idem, named } = setup({}, { leaseMs: 5_000 });
    store.failNext('complete');
    const decision = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    await (decision as Execution).complete(response('late'));
    const claims = store.calls.claim;
    // Not stored yet: the store decides (still in flight).
    await expect(idem.begin({ scope: '', key: 'k', fingerprint: 'f' })).rejects.toBeInstanceOf(
      RequestInFlightError,
    );
    expect(store.calls.claim).toBe(claims + 1);
    await vi.waitFor(() => expect(named('executed')).toHaveLength(1), { timeout: 5_000 });
    expect(named('executed')[0]).toMatchObject({ stored: true });
    expect(await replayFromStore(idem, store, { key: 'k' })).toBe('replay late');
    expect(await replayFromCache(idem, store, { key: 'k' })).toBe('replay late');
  });

  it('a completion rolled back is not cached: the retry runs once more', async () => {
    const { store, idem } = setup();
    store.failNext('complete', 1, new RolledBackError(new Error('serialization failure')));
    const decision = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    await expect((decision as Execution).complete(response('x'))).rejects.toBeInstanceOf(
      RolledBackError,
    );
    expect(await outcome(idem, { key: 'k' })).toBe('execute');
  });

  it('a stale completion (the lease was taken over) is not cached', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_700_000_000_000 });
    const { idem } = setup({}, { leaseMs: 1_000 });
    const slow = (await idem.begin({ scope: '', key: 'k', fingerprint: 'f' })) as Execution;
    vi.setSystemTime(Date.now() + 1_000);
    const taker = await idem.begin({ scope: '', key: 'k', fingerprint: 'f' });
    expect(taker.kind).toBe('execute');
    await slow.complete(response('stale'));
    expect(await outcome(idem, { key: 'k' })).toBe('REQUEST_IN_FLIGHT');
    await (taker as Execution).complete(response('fresh'));
    expect(await outcome(idem, { key: 'k' })).toBe('replay fresh');
  });
});

describe('replay cache: configuration', () => {
  const store = testStore();

  /** The ConfigurationError `make` throws. */
  function refusal(make: () => unknown): Error {
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as Error;
  }

  it.each([
    ['true', true],
    ['a string', 'on'],
    ['an array', []],
    ['null', null],
    // The shape before replayCache(): the message says where the limits go now.
    ['an object of limits', {}],
    ['an object of limits', { maxAgeMs: 5_000 }],
  ])('refuses cache: %s, naming replayCache()', (_name, cache) => {
    const error = refusal(() =>
      createIdempotency({ store, cache } as unknown as IdempotencyOptions),
    );
    expect(error.message).toMatch(
      /option "cache" must be false, or replayCache\(\) from @idem\/core \(with its limits: replayCache\(\{ entries, bytes, maxAgeMs \}\)\)/,
    );
  });

  it.each([
    [
      'entries 0',
      { entries: 0 },
      /option "entries" must be a whole number of records, 1 or more, got 0/,
    ],
    ['entries 1.5', { entries: 1.5 }, /option "entries" must be a whole number/],
    ['bytes negative', { bytes: -1 }, /option "bytes" must be a positive, finite number of bytes/],
    ['bytes Infinity', { bytes: Number.POSITIVE_INFINITY }, /option "bytes"/],
    ['maxAgeMs NaN', { maxAgeMs: Number.NaN }, /option "maxAgeMs" must be a positive/],
    ['maxAgeMs a string', { maxAgeMs: '60s' }, /option "maxAgeMs"/],
    ['an unknown limit', { maxAge: 5 }, /unknown option "maxAge" \(did you mean "maxAgeMs"\?\)/],
    ['null', null, /pass an options object/],
  ])(
    'replayCache() refuses %s with a ConfigurationError that names the fix',
    (_name, limits, message) => {
      const error = refusal(() => replayCache(limits as ReplayCacheOptions));
      expect(error.message).toMatch(/^idem: replayCache\(\): /);
      expect(error.message).toMatch(message);
    },
  );

  it('fills in the documented defaults, and keeps what is given', () => {
    expect(createIdempotency({ store }).options.cache).toBe(false);
    expect(createIdempotency({ store, cache: false }).options.cache).toBe(false);
    const cache = replayCache();
    expect(createIdempotency({ store, cache }).options.cache).toBe(cache);
    expect(cache.limits).toEqual({ entries: 10_000, bytes: 64 * 1024 * 1024, maxAgeMs: 60_000 });
    expect(replayCache({ maxAgeMs: 5_000 }).limits).toEqual({
      entries: 10_000,
      bytes: 64 * 1024 * 1024,
      maxAgeMs: 5_000,
    });
  });

  it('engines sharing one replayCache() keep entries of their own', async () => {
    const cache = replayCache();
    const [a, b] = [storeWithRemove(), storeWithRemove()];
    const idemA = createIdempotency({ store: a, logger: false, cache });
    const idemB = createIdempotency({ store: b, logger: false, cache });
    await executeAndComplete(idemA, { key: 'k' }, response('from a'));
    await executeAndComplete(idemB, { key: 'k' }, response('from b'));
    expect(await replayFromStore(idemA, a, { key: 'k' })).toBe('replay from a');
    expect(await replayFromStore(idemB, b, { key: 'k' })).toBe('replay from b');
    expect(await replayFromCache(idemA, a, { key: 'k' })).toBe('replay from a');
    expect(await replayFromCache(idemB, b, { key: 'k' })).toBe('replay from b');
  });

  it('the HTTP layer (every adapter) takes the option, and replays from the cache after the first replay', async () => {
    const store = storeWithRemove();
    const http = createHttpIdempotency({
      store,
      scope: () => 'tenant',
      cache: replayCache(),
      logger: false,
    });
    const body = utf8('{"amount":5}');
    const request: HttpRequest = {
      method: 'POST',
      path: '/pay',
      query: '',
      header: (name) =>
        ({ 'idempotency-key': '"k-1"', 'content-type': 'application/json' })[name] ?? null,
      body: () => body,
    };
    const first = await http.handle(request, {});
    if (first.kind !== 'execute') throw new Error('expected an execution');
    await first.complete({ status: 201, headers: [['x-charge', '1']], body: utf8('{"ok":1}') });
    // The first replay asks the store (one claim) and fills the cache; the next asks nothing.
    for (const expected of [{ claim: 1 }, {}]) {
      const [again, seen] = await seenBy(store, () => http.handle(request, {}));
      expect(seen).toEqual(expected);
      expect(again).toMatchObject({ kind: 'respond', replayed: true, response: { status: 201 } });
      if (again.kind !== 'respond') return;
      expect(again.response.headers).toEqual([
        ['x-charge', '1'],
        ['idempotent-replayed', 'true'],
      ]);
      expect(new TextDecoder().decode(again.response.body)).toBe('{"ok":1}');
    }
    expect(() => createHttpIdempotency({ store, scope: () => 't', cache: {} } as never)).toThrow(
      /option "cache" must be false, or replayCache\(\)/,
    );
  });
});

describe('replay cache: property', () => {
  type End = 'complete' | 'marker' | 'release' | 'hold';
  type Step =
    | {
        readonly op: 'request';
        readonly scope: string;
        readonly key: string;
        readonly fingerprint: string;
        readonly end: End;
        readonly ttlMs: number;
        readonly body: string;
      }
    | { readonly op: 'finish'; readonly end: 'complete' | 'release'; readonly body: string }
    | { readonly op: 'advance'; readonly ms: number }
    | { readonly op: 'operator'; readonly scope: string; readonly key: string }
    /** The last request again, as a client retrying it: what reaches the cache, which fills on a replay. */
    | { readonly op: 'retry' };

  const scopes = fc.constantFrom('a', 'b');
  const keys = fc.constantFrom('k1', 'k2', 'k3');
  const bodies = fc.string({ maxLength: 40 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('request' as const),
        scope: scopes,
        key: keys,
        fingerprint: fc.constantFrom('f1', 'f2'),
        end: fc.constantFrom<End>('complete', 'complete', 'marker', 'release', 'hold'),
        ttlMs: fc.constantFrom(1_000, 1_500, 3_000),
        body: bodies,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('finish' as const),
        end: fc.constantFrom('complete' as const, 'release' as const),
        body: bodies,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.nat(2_500) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('operator' as const), scope: scopes, key: keys }),
    },
    { weight: 6, arbitrary: fc.constant({ op: 'retry' as const }) },
  );
  const limits = fc.record({
    entries: fc.integer({ min: 1, max: 4 }),
    bytes: fc.integer({ min: 60, max: 400 }),
    maxAgeMs: fc.integer({ min: 1, max: 4_000 }),
  });

  /** Play `steps` on a fresh store and engine; what each step decided, in order. */
  async function play(steps: readonly Step[], limits: ReplayCacheOptions | false) {
    vi.setSystemTime(1_700_000_000_000);
    const store = storeWithRemove();
    const idem = createIdempotency({
      store,
      logger: false,
      leaseMs: 1_000,
      cache: cacheOf(limits),
    });
    const held: Execution[] = [];
    const decisions: string[] = [];
    const answer = (body: string): StoredResponse => ({
      status: 200,
      headers: [['x-body', body]],
      body: utf8(body),
    });
    let last: Step | undefined;
    for (const step of steps) {
      const s = step.op === 'retry' ? last : step;
      if (s === undefined || s.op === 'retry') continue;
      if (s.op === 'request') last = s;
      if (s.op === 'advance') {
        vi.setSystemTime(Date.now() + s.ms);
      } else if (s.op === 'finish') {
        const execution = held.shift();
        if (execution === undefined) continue;
        if (s.end === 'complete') await execution.complete(answer(s.body));
        else await execution.release();
        decisions.push(`finished ${s.end}`);
      } else if (s.op === 'operator') {
        const released = await idem.remove({ scope: s.scope, key: s.key, force: true });
        decisions.push(`operator ${released?.state ?? 'none'}`);
      } else {
        try {
          const { scope, key, fingerprint, ttlMs } = s;
          const decision = await idem.begin({ scope, key, fingerprint, ttlMs });
          if (decision.kind === 'replay') {
            const { status, headers } = decision.response;
            decisions.push(
              `replay ${status} ${JSON.stringify(headers)} ${text(decision.response)}`,
            );
            continue;
          }
          decisions.push('execute');
          if (s.end === 'complete') await decision.complete(answer(s.body));
          else if (s.end === 'marker') await decision.complete(notStoredMarker(200, 3));
          else if (s.end === 'release') await decision.release();
          else held.push(decision);
        } catch (error) {
          if (!isIdempotencyError(error)) throw error;
          decisions.push(error.code);
        }
      }
    }
    return { decisions, claims: store.calls.claim };
  }

  it('with the cache on, every decision is the same as with it off; only store calls differ', async () => {
    // Fake timers: leases move only with the steps, never with a renewal timer.
    vi.useFakeTimers({
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
    });
    let fewerCalls = 0;
    // 'medium': runs long enough for a hit, which takes a completion, a
    // first replay from the store (filling the cache), then one more request.
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 40, size: 'medium' }),
        limits,
        async (steps, cache) => {
          const off = await play(steps, false);
          const on = await play(steps, cache);
          expect(on.decisions).toEqual(off.decisions);
          expect(on.claims).toBeLessThanOrEqual(off.claims);
          if (on.claims < off.claims) fewerCalls++;
        },
      ),
      fcOptions(300),
    );
    // The property exercised hits, not only misses (about 4 runs in 10 have some).
    expect(fewerCalls).toBeGreaterThan(0);
  });
});
