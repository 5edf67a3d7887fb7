import { createIdempotency, type Idempotency, isIdempotencyError } from '@idem/core';
import { type Claim, type StoredResponse, scopedKey } from '@idem/core/store';
import fc from 'fast-check';
import { fcParameters } from '../fc.js';
import { check } from '../store/harness.js';
import type { TransactionalCheck, TransactionalSuiteOptions } from './options.js';

/** One check: its name and body, given the options and a fresh engine on the store. */
interface Spec {
  readonly name: string;
  body(o: TransactionalSuiteOptions, idem: Idempotency): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh id per check and run: checks share the store and the writes table. */
const newId = (label: string) => `idem-tx-${label}-${crypto.randomUUID()}`;

/** What a settled promise came to, without letting it throw. */
async function settle<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

const describeError = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** "resolved" or the error, for messages. */
const outcomeOf = (r: { value: unknown } | { error: unknown }) =>
  'error' in r ? `rejected with ${describeError(r.error)}` : 'resolved';

const isRolledBack = (r: { value: unknown } | { error: unknown }) =>
  'error' in r && isIdempotencyError(r.error, 'ROLLED_BACK');

/** After `what` kept nothing: a retry succeeds, a second replays, and the writes land once. */
async function expectRetryRunsOnce(
  o: TransactionalSuiteOptions,
  idem: Idempotency,
  id: string,
  what: string,
): Promise<void> {
  const op = operation(o, id);
  const retry = await settle(idem.run(id, op));
  check(!('error' in retry), `The retry after ${what} ${outcomeOf(retry)}.`);
  await settle(idem.run(id, op));
  check(op.runs === 1, `The retry after ${what} ran ${op.runs} times, not once.`);
  await expectWrites(o, id, 1, `After the retry of ${what}`);
}

/** The operation's rows are committed exactly `n` times, read out of band. */
async function expectWrites(o: TransactionalSuiteOptions, id: string, n: number, why: string) {
  const count = await o.countWrites(id);
  check(count === n, `${why}: expected ${n} committed write(s) of the operation, found ${count}.`);
}

/** The key's record: absent (released), or in the state named. */
async function expectRecord(
  o: TransactionalSuiteOptions,
  storeKey: string,
  state: 'absent' | 'in_progress' | 'completed',
  why: string,
) {
  const record = await o.store.read(storeKey);
  const seen = record?.state ?? 'absent';
  check(seen === state, `${why}: expected the record to be ${state}, found ${seen}.`);
}

/** An operation that writes once per run, counting its runs and keeping its claim. */
function operation(o: TransactionalSuiteOptions, id: string, after?: (claim: Claim) => unknown) {
  const op = Object.assign(
    async (claim: Claim) => {
      op.runs++;
      op.storeKey = claim.storeKey;
      await o.write(claim, id);
      await after?.(claim);
      return { id };
    },
    { runs: 0, storeKey: '' },
  );
  return op;
}

const RESPONSE: StoredResponse = {
  status: 200,
  headers: [],
  body: new TextEncoder().encode('{"ok":true}'),
};

const FIX_ROLLBACK =
  "roll the operation's transaction back in release(), and commit it only in complete(), in the same transaction as the record";

/** The first owner writes, loses its lease to another request, then completes: nothing of it may commit. */
async function lateCompletion(
  o: TransactionalSuiteOptions,
  id: string,
  key: string,
  first: Claim,
  leaseMs: number,
): Promise<void> {
  const fingerprint = 'f';
  await o.write(first, id);
  // The first owner looks dead: once its lease ran out (by the store's clock), another request takes the key.
  const second = crypto.randomUUID();
  const deadline = Date.now() + leaseMs + 10_000;
  for (;;) {
    const taken = await o.store.claim(key, { fingerprint, token: second, leaseMs: 60_000 });
    if (taken.claimed) break;
    check(
      Date.now() < deadline,
      `No other owner could claim the key ${leaseMs} ms after a lease of ${leaseMs} ms ran out.`,
    );
    await sleep(Math.min(100, leaseMs));
  }
  const late = await settle(o.store.complete(key, first.token, RESPONSE, 60_000));
  check(
    isRolledBack(late),
    `complete() by the owner whose lease another request took ${'value' in late ? `answered '${String(late.value)}'` : outcomeOf(late)}: it must roll the operation's transaction back and reject with RolledBackError, so the operation is not reported as done.`,
  );
  await expectWrites(o, id, 0, "After the first owner's late complete()");
  await expectRecord(
    o,
    key,
    'in_progress',
    "After the first owner's late complete() (the new owner's claim stands)",
  );
  check((await o.store.release(key, second)) === 'ok', "The new owner's release() was not 'ok'.");
}

const specs: readonly Spec[] = [
  {
    name: 'the writes and the record commit together, and a retry replays without writing',
    async body(o, idem) {
      const id = newId('commit');
      const op = operation(o, id);
      const first = await settle(idem.run(id, op));
      check(
        !('error' in first),
        `run() of an operation that wrote and returned ${outcomeOf(first)}.`,
      );
      await expectWrites(o, id, 1, 'After a completed operation');
      await expectRecord(o, op.storeKey, 'completed', 'After a completed operation');
      const again = await settle(idem.run(id, op));
      check(!('error' in again), `A retry of a completed operation ${outcomeOf(again)}.`);
      check(op.runs === 1, `A retry of a completed operation ran it again (${op.runs} runs).`);
      await expectWrites(o, id, 1, 'After a replay');
    },
  },
  {
    name: 'a thrown operation rolls its writes back and releases the key; the retry runs once',
    async body(o, idem) {
      const id = newId('throw');
      const failure = new Error('the operation failed after its write');
      const failing = operation(o, id, () => {
        throw failure;
      });
      const first = await settle(idem.run(id, failing));
      check(
        'error' in first && first.error === failure,
        `run() of an operation that threw ${outcomeOf(first)}, not with the operation's error.`,
      );
      await expectWrites(o, id, 0, `After an operation threw (${FIX_ROLLBACK})`);
      await expectRecord(
        o,
        failing.storeKey,
        'absent',
        'After an operation threw (release the key)',
      );
      await expectRetryRunsOnce(o, idem, id, 'a thrown operation');
    },
  },
  {
    name: 'a failed commit answers RolledBackError, keeps nothing, and the retry runs once',
    async body(o, idem) {
      const id = newId('failed-commit');
      const broken = operation(o, id, (claim) => o.breakTransaction(claim));
      const first = await settle(idem.run(id, broken));
      check(
        isRolledBack(first),
        `run() of an operation whose transaction could not commit ${outcomeOf(first)}: complete() must reject with RolledBackError when the commit fails (a COMMIT that answers ROLLBACK included), never answer 'ok'.`,
      );
      await expectWrites(o, id, 0, 'After a failed commit');
      await expectRecord(
        o,
        broken.storeKey,
        'absent',
        'After a failed commit (the engine releases the key)',
      );
      await expectRetryRunsOnce(o, idem, id, 'a failed commit');
    },
  },
  {
    name: 'a result shouldStore does not keep rolls back and throws RolledBackError',
    async body(o, idem) {
      const id = newId('not-kept');
      const op = operation(o, id);
      const first = await settle(idem.run(id, op, { shouldStore: () => false }));
      check(
        isRolledBack(first),
        `run() whose shouldStore kept no result ${outcomeOf(first)}: the store must call bindTransaction(claim) when it opens the claim's transaction, so the engine knows releasing the key rolls the writes back.`,
      );
      await expectWrites(o, id, 0, `After a result not kept (${FIX_ROLLBACK})`);
      await expectRecord(o, op.storeKey, 'absent', 'After a result not kept');
      const kept = await settle(idem.run(id, op));
      check(!('error' in kept), `A retry whose result is kept ${outcomeOf(kept)}.`);
      check(op.runs === 2, `Expected 2 runs (the one not kept, then the retry), got ${op.runs}.`);
      await expectWrites(o, id, 1, 'After a kept retry');
    },
  },
  {
    name: "a lost lease never commits the first owner's writes",
    async body(o) {
      const id = newId('lost-lease');
      const key = await scopedKey('idem-conformance-transactional', id);
      const leaseMs = o.leaseMs ?? 500;
      const first: Claim = { storeKey: key, token: crypto.randomUUID(), protected: true };
      const claimed = await o.store.claim(key, { fingerprint: 'f', token: first.token, leaseMs });
      check(claimed.claimed, 'claim() of a fresh key did not claim it.');
      try {
        await lateCompletion(o, id, key, first, leaseMs);
      } finally {
        // A store that failed the check may still hold the first owner's transaction open.
        await o.store.release(key, first.token).catch(() => undefined);
      }
    },
  },
  {
    name: 'concurrent duplicates run the writes exactly once',
    async body(o, idem) {
      const most = Math.max(2, o.maxConcurrency ?? 8);
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 2, max: most }), async (n) => {
          const id = newId('concurrent');
          // Held open until every duplicate has been sent, so they overlap.
          let open!: () => void;
          const gate = new Promise<void>((r) => {
            open = r;
          });
          const op = operation(o, id, () => gate);
          const all = Array.from({ length: n }, () => settle(idem.run(id, op)));
          await sleep(20);
          open();
          const results = await Promise.all(all);
          const unexpected = results.filter(
            (r) => 'error' in r && !isIdempotencyError(r.error, 'REQUEST_IN_FLIGHT'),
          );
          check(
            unexpected.length === 0,
            `${n} duplicates at once: ${unexpected.map(outcomeOf).join('; ')}.`,
          );
          check(op.runs === 1, `${n} duplicates at once ran the operation ${op.runs} times.`);
          await expectWrites(o, id, 1, `${n} duplicates at once`);
        }),
        fcParameters(5),
      );
    },
  },
  {
    name: 'a write after the operation finished is refused',
    async body(o, idem) {
      const id = newId('after');
      let kept: Claim | undefined;
      await idem.run(id, async (claim) => {
        kept = claim;
        await o.write(claim, id);
        return { id };
      });
      const late = await settle(o.write(kept!, id));
      check(
        'error' in late,
        "A write with the claim of an operation that finished succeeded: store.transaction(claim) must refuse a claim whose transaction was committed or rolled back, or that transaction is never committed (claimTransactions() in '@idem/core' does).",
      );
      await expectWrites(o, id, 1, 'After a write refused once the operation finished');
    },
  },
];

/**
 * The transactional suite's checks as plain async functions, each on a fresh
 * engine over `options.store`, for other test runners and for proving the
 * suite catches broken stores.
 */
export function transactionalChecks(options: TransactionalSuiteOptions): TransactionalCheck[] {
  return specs.map((spec) => ({
    name: spec.name,
    run: () => spec.body(options, createIdempotency({ store: options.store, logger: false })),
  }));
}
