import type {
  ClaimRequest,
  ClaimResult,
  OwnerResult,
  Store,
  StoredResponse,
} from '@idem/core/store';
import type { CheckSpec } from './checks.js';
import { ConformanceError, check, checkResponse, type Harness } from './harness.js';
import type { StoreProcess, StoreProcesses } from './remote.js';

/** What every `connections` failure that found two owners ends with: the fix. */
export const ATOMIC_CLAIM_FIX =
  'A claim must be one atomic statement or an immediate transaction (an upsert with a condition, BEGIN IMMEDIATE, SELECT … FOR UPDATE, a compare-and-set): a read followed by a separate write lets two connections both find the key free.';

const LEASE = 30_000;
const TTL = 3_600_000;
/** Keys raced at once: enough to keep every connection busy, few enough for one pool. */
const BATCH = 100;

/** One side of the race: a store on a connection (or in a process) of its own. */
interface Racer {
  readonly name: string;
  readonly store: Store;
  /** A process's: its claims sent in one message. */
  readonly claimAll?: StoreProcess['claimAll'];
}

interface Attempt {
  readonly key: string;
  readonly racer: number;
  readonly request: ClaimRequest;
}

const response = (racer: number): StoredResponse => ({
  status: 200 + racer,
  headers: [['x-racer', String(racer)]],
  body: new TextEncoder().encode(`racer ${racer}`),
});

/**
 * Claim every key once from each racer, all at once. Per key: its attempts
 * with the winner first, or the owners when more than one won.
 */
async function claimAll(
  racers: readonly Racer[],
  keys: readonly string[],
): Promise<(Attempt[] | TwoOwners)[]> {
  const attempts = keys.map((key) =>
    racers.map(
      (_, racer): Attempt => ({
        key,
        racer,
        // The fingerprint names the racer, so a losing claim shows whose record it met.
        request: { fingerprint: `racer-${racer}`, token: crypto.randomUUID(), leaseMs: LEASE },
      }),
    ),
  );
  // Every racer goes through the keys in the same order, all at once: other
  // processes get theirs first, in one message each, since a synchronous
  // store in this process makes its claims before anything else runs.
  const order = racers
    .map((_, r) => r)
    .sort((a, b) => +!racers[a]!.claimAll - +!racers[b]!.claimAll);
  const perRacer = new Map<number, Promise<ClaimResult[]>>();
  for (const r of order) {
    const { store, claimAll: all } = racers[r]!;
    const mine = attempts.map((row) => row[r]!);
    perRacer.set(
      r,
      all
        ? all(mine.map((a) => [a.key, a.request] as const))
        : Promise.all(mine.map((a) => store.claim(a.key, a.request))),
    );
  }
  const results = await Promise.all(racers.map((_, r) => perRacer.get(r)!));
  return attempts.map((row, k) =>
    judge(
      row,
      row.map((_, r) => results[r]![k]!),
      racers,
    ),
  );
}

/** The key's attempts with the winner first, or its owners when several won; throws when none did. */
function judge(
  row: readonly Attempt[],
  results: readonly ClaimResult[],
  racers: readonly Racer[],
): Attempt[] | TwoOwners {
  const key = row[0]!.key;
  const won = row.filter((_, r) => results[r]!.claimed);
  if (won.length > 1)
    return new TwoOwners(
      key,
      won.map((a) => racers[a.racer]!.name),
    );
  check(
    won.length === 1,
    `key ${JSON.stringify(key)}: none of ${row.length} claims from separate connections won it, got ${JSON.stringify(results.map((r) => (r.claimed ? 'claimed' : r.record?.state)))}`,
  );
  const winner = won[0]!;
  results.forEach((r, i) => {
    if (r.claimed) return;
    check(
      r.record?.state === 'in_progress' && r.record.fingerprint === winner.request.fingerprint,
      `key ${JSON.stringify(key)}: the claim from ${racers[i]!.name} lost to ${racers[winner.racer]!.name}'s, so it must see that in-flight record (fingerprint ${winner.request.fingerprint}), got ${r.record?.state} ${r.record?.fingerprint}`,
    );
  });
  return [winner, ...row.filter((a) => a !== winner)];
}

/** Two claims of one key both reported `claimed: true`. */
class TwoOwners {
  constructor(
    readonly key: string,
    readonly owners: readonly string[],
  ) {}
}

async function expectOwners(
  what: string,
  key: string,
  calls: readonly Promise<OwnerResult>[],
  names: readonly string[],
): Promise<void> {
  const got = await Promise.all(calls);
  got.forEach((result, i) => {
    const expected = i === 0 ? 'ok' : 'stale';
    check(
      result === expected,
      `key ${JSON.stringify(key)}: ${what} with ${i === 0 ? 'the owner' : 'a losing claim'}'s token (from ${names[i]}) answered '${String(result)}', expected '${expected}': only the claim that won may act on the record`,
    );
  });
}

/** Renew and complete, raced by every claimant on its own connection; then read from another. */
async function ownersOnly(racers: readonly Racer[], rows: readonly Attempt[][]): Promise<void> {
  await Promise.all(
    rows.map(async (row) => {
      const key = row[0]!.key;
      const names = row.map((a) => racers[a.racer]!.name);
      const on = (a: Attempt) => racers[a.racer]!.store;
      await expectOwners(
        'renew',
        key,
        row.map((a) => on(a).renew(key, a.request.token, LEASE)),
        names,
      );
      await expectOwners(
        'complete',
        key,
        row.map((a) => on(a).complete(key, a.request.token, response(a.racer), TTL)),
        names,
      );
      const owner = row[0]!.racer;
      const reader = racers[(owner + 1) % racers.length]!;
      const record = await reader.store.read(key);
      check(
        record?.state === 'completed',
        `key ${JSON.stringify(key)}: ${reader.name} must read the record ${racers[owner]!.name} completed, got ${record?.state ?? 'none'}`,
      );
      checkResponse(
        record.response,
        response(owner),
        `key ${JSON.stringify(key)}: the owner's completion, read by ${reader.name}`,
      );
    }),
  );
}

/** The race both checks run, over `racers`. */
async function race(h: Harness, racers: readonly Racer[], keyCount: number): Promise<void> {
  const keys = await Promise.all(Array.from({ length: keyCount }, () => h.freshKey()));
  const doubled: TwoOwners[] = [];
  const won: Attempt[][] = [];
  for (let start = 0; start < keys.length; start += BATCH) {
    for (const judged of await claimAll(racers, keys.slice(start, start + BATCH))) {
      if (judged instanceof TwoOwners) doubled.push(judged);
      else won.push(judged);
    }
  }
  if (doubled.length > 0) {
    const first = doubled[0]!;
    throw new ConformanceError(
      `two owners: key ${JSON.stringify(first.key)} was claimed (claimed: true) by ${listed(first.owners)} at once; ${doubled.length} of ${keyCount} keys raced from ${racers.length} connections had more than one owner. ${ATOMIC_CLAIM_FIX}`,
    );
  }
  await ownersOnly(racers, won);
}

/** `a, b and c`. */
const listed = (names: readonly string[]) =>
  names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;

const TITLE = 'give each key exactly one owner, and only that owner renews and completes it';

/** The `connections` checks for these options. */
export function raceChecks(options: { readonly processes?: StoreProcesses }): CheckSpec[] {
  return [
    {
      group: 'connections',
      name: `claims of the same keys raced over three connections (createStore and two from connect) ${TITLE}`,
      async body(h, counts) {
        const racers: Racer[] = [{ name: 'connection 1 (createStore)', store: h.store }];
        for (const n of [2, 3]) {
          racers.push({ name: `connection ${n} (connect)`, store: await h.connect() });
        }
        await race(h, racers, counts.raceKeys);
      },
    },
    {
      group: 'connections',
      name: `claims of the same keys raced from other processes and this one ${TITLE}`,
      ...(options.processes
        ? {}
        : {
            skip: 'no `processes` option: claims were raced over connections of one process only (give `processes: childProcesses(module)` for a store with a synchronous driver or a file-based database)',
          }),
      async body(h, counts) {
        const processes = options.processes;
        if (!processes)
          throw new ConformanceError('the processes race needs the `processes` option');
        const started = await Promise.allSettled(
          Array.from({ length: processes.count }, (_, i) => processes.start(i)),
        );
        for (const s of started) if (s.status === 'fulfilled') h.defer(() => s.value.close());
        const failed = started.find((s) => s.status === 'rejected');
        if (failed) throw failed.reason;
        const children = started.map((s) => (s as PromiseFulfilledResult<StoreProcess>).value);
        await race(
          h,
          [
            { name: 'this process (createStore)', store: h.store },
            ...children.map((c) => ({ name: c.name, store: c.store, claimAll: c.claimAll })),
          ],
          counts.raceKeys,
        );
      },
    },
  ];
}
