import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../../test/fc.js';
import { type Claim, isTransactional } from '../engine/context.js';
import { isIdempotencyError } from '../errors.js';
import { claimTransactions, type TransactionDriver } from './transactions.js';

/** A driver transaction: who began it, and how it ended. */
interface FakeTx {
  readonly id: number;
  ended?: 'committed' | 'rolled back' | 'lost lease' | 'commit failed';
}

/** What the store's completion tells the driver: how the commit will go. */
type Completion = 'commits' | 'lease lost' | 'fails';

function fakeDriver() {
  const begun: FakeTx[] = [];
  const calls: Array<{ op: 'commit' | 'rollback'; tx: FakeTx }> = [];
  let failNextBegin = false;
  const end = (tx: FakeTx, how: NonNullable<FakeTx['ended']>) => {
    if (tx.ended) throw new Error(`transaction ${tx.id} ended twice (${tx.ended}, then ${how})`);
    tx.ended = how;
  };
  const driver: TransactionDriver<FakeTx, Completion> = {
    name: 'fakeStore',
    async begin() {
      if (failNextBegin) {
        failNextBegin = false;
        throw new Error('BEGIN failed');
      }
      const tx: FakeTx = { id: begun.length };
      begun.push(tx);
      return tx;
    },
    async commit(tx, completion) {
      calls.push({ op: 'commit', tx });
      if (completion === 'fails') {
        end(tx, 'commit failed');
        throw new Error('connection lost during COMMIT');
      }
      end(tx, completion === 'commits' ? 'committed' : 'lost lease');
      return completion === 'commits';
    },
    async rollback(tx) {
      calls.push({ op: 'rollback', tx });
      end(tx, 'rolled back');
    },
  };
  const failBegin = () => {
    failNextBegin = true;
  };
  return { driver, begun, calls, failBegin };
}

const claimOf = (storeKey: string, token: string): Claim => ({
  storeKey,
  token,
  protected: true,
});

describe('claimTransactions', () => {
  it('binds one transaction per claim, marks the claim transactional, and commits it with the record', async () => {
    const { driver, begun } = fakeDriver();
    const tx = claimTransactions(driver);
    const claim = claimOf('k', 't1');
    const [a, b] = await Promise.all([tx.bind(claim), tx.bind(claim)]);
    expect(a).toBe(b);
    expect(begun).toHaveLength(1);
    expect(isTransactional(claim)).toBe(true);
    expect(await tx.commit('k', 't1', 'commits')).toBe('ok');
    expect(a.ended).toBe('committed');
    // Taken back: a second completion finds nothing and completes on its own.
    expect(await tx.commit('k', 't1', 'commits')).toBeUndefined();
  });

  it('answers RolledBackError for a lost lease and for a failed commit, with the cause', async () => {
    const { driver } = fakeDriver();
    const tx = claimTransactions(driver);
    await tx.bind(claimOf('k', 'a'));
    await tx.bind(claimOf('k', 'b'));
    const lost = await tx.commit('k', 'a', 'lease lost').catch((e: unknown) => e);
    expect(isIdempotencyError(lost, 'ROLLED_BACK')).toBe(true);
    expect(String((lost as Error).cause)).toMatch(/lease ran out/);
    const failed = await tx.commit('k', 'b', 'fails').catch((e: unknown) => e);
    expect(isIdempotencyError(failed, 'ROLLED_BACK')).toBe(true);
    expect(String((failed as Error).cause)).toMatch(/connection lost during COMMIT/);
  });

  it('never hands a transaction to another token or another key', async () => {
    const { driver, calls } = fakeDriver();
    const tx = claimTransactions(driver);
    const mine = await tx.bind(claimOf('k', 'owner'));
    expect(await tx.commit('k', 'thief', 'commits')).toBeUndefined();
    expect(await tx.commit('other-key', 'owner', 'commits')).toBeUndefined();
    await tx.rollback('k', 'thief');
    expect(calls).toEqual([]);
    await tx.rollback('k', 'owner');
    expect(calls).toEqual([{ op: 'rollback', tx: mine }]);
  });

  it('refuses a bind after the claim finished, and a second key for one token', async () => {
    const { driver, begun } = fakeDriver();
    const tx = claimTransactions(driver);
    const claim = claimOf('k', 't');
    await tx.bind(claim);
    await expect(tx.bind(claimOf('k2', 't'))).rejects.toThrow(/already committed or rolled back/);
    await tx.rollback('k', 't');
    await expect(tx.bind(claim)).rejects.toThrow(
      "fakeStore.transaction: this claim's transaction was already committed or rolled back (its operation finished). Call store.transaction(claim) while the operation runs.",
    );
    expect(begun).toHaveLength(1);
  });

  it('refuses claims it cannot commit with, naming the store and the fix', async () => {
    const tx = claimTransactions(fakeDriver().driver);
    await expect(tx.bind(undefined)).rejects.toThrow(
      /^fakeStore\.transaction: idem passed this request through/,
    );
    await expect(tx.bind({} as Claim)).rejects.toThrow(/pass the claim idem gave the operation/);
    const unprotected = { storeKey: 'k', token: '', protected: false };
    await expect(tx.bind(unprotected)).rejects.toThrow(/unprotected/);
    await expect(tx.bind(undefined)).rejects.toSatisfy((e) =>
      isIdempotencyError(e, 'CONFIGURATION'),
    );
    expect(isTransactional(unprotected)).toBe(false);
  });

  it('forgets a transaction whose BEGIN failed: the completion goes on alone, a new bind begins again', async () => {
    const { driver, begun, failBegin } = fakeDriver();
    const tx = claimTransactions(driver);
    const claim = claimOf('k', 't');
    failBegin();
    await expect(tx.bind(claim)).rejects.toThrow('BEGIN failed');
    expect(await tx.commit('k', 't', 'commits')).toBeUndefined();
    const again = await tx.bind(claimOf('k', 'u'));
    expect(begun).toEqual([again]);
  });

  it('a rollback that throws does not stop the release', async () => {
    const { driver } = fakeDriver();
    const tx = claimTransactions({
      ...driver,
      rollback: () => Promise.reject(new Error('connection gone')),
    });
    await tx.bind(claimOf('k', 't'));
    await expect(tx.rollback('k', 't')).resolves.toBeUndefined();
  });

  /**
   * Any interleaving of binds, commits and rollbacks by several claims (and
   * by tokens or keys that own nothing), against a model: each claim's
   * transaction begins once, is ended once, by its own token and key only,
   * and a claim that finished cannot bind again.
   */
  it('property: interleaved bind / commit / rollback by different tokens follow the model', async () => {
    const claims = 3;
    const command = fc.oneof(
      fc.record({
        op: fc.constant('bind' as const),
        claim: fc.nat(claims - 1),
        beginFails: fc.boolean(),
      }),
      fc.record({
        op: fc.constantFrom('commit' as const, 'rollback' as const),
        claim: fc.nat(claims),
        // The key the store passes: the claim's own, or another's.
        ownKey: fc.boolean(),
        completion: fc.constantFrom<Completion>('commits', 'lease lost', 'fails'),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 40 }), fc.scheduler(), async (cmds, s) => {
        const { driver, begun, calls, failBegin } = fakeDriver();
        // Every driver call waits on the scheduler, so commands overlap in any order.
        const scheduled: TransactionDriver<FakeTx, Completion> = {
          name: driver.name,
          begin: s.scheduleFunction(() => driver.begin()),
          commit: s.scheduleFunction((t: FakeTx, c: Completion) => driver.commit(t, c)),
          rollback: s.scheduleFunction((t: FakeTx) => driver.rollback(t)),
        };
        const tx = claimTransactions(scheduled);
        // Index `claims` is a token that never binds anything.
        const all = Array.from({ length: claims + 1 }, (_, i) => claimOf(`key-${i}`, `token-${i}`));
        const owner = new Map<FakeTx, string>();
        const state: Array<'none' | 'open' | 'finished'> = all.map(() => 'none');

        for (const c of cmds) {
          const claim = all[c.claim]!;
          if (c.op === 'bind') {
            if (c.beginFails && state[c.claim] === 'none') failBegin();
            const bound = tx.bind(claim);
            const begun0 = begun.length;
            const result = await s.waitFor(
              bound.then(
                (t) => ({ t }),
                (e: unknown) => ({ e }),
              ),
            );
            if (state[c.claim] === 'finished') {
              expect('e' in result && String(result.e)).toMatch(/already committed/);
            } else if ('t' in result) {
              const known = owner.get(result.t);
              if (known === undefined) owner.set(result.t, claim.token);
              else expect(known).toBe(claim.token);
              state[c.claim] = 'open';
            } else {
              expect(String(result.e)).toMatch(/BEGIN failed/);
              expect(begun.length).toBe(begun0);
              expect(state[c.claim]).toBe('none');
            }
            continue;
          }
          const key = c.ownKey ? claim.storeKey : `key-${(c.claim + 1) % (claims + 1)}`;
          const before = calls.length;
          const done =
            c.op === 'commit'
              ? tx.commit(key, claim.token, c.completion)
              : tx.rollback(key, claim.token);
          const result = await s.waitFor(
            done.then(
              (r) => ({ r }),
              (e: unknown) => ({ e }),
            ),
          );
          const taken = c.ownKey && state[c.claim] === 'open';
          expect(calls.length - before).toBe(taken ? 1 : 0);
          if (!taken) {
            expect(result).toEqual({ r: undefined });
            continue;
          }
          const call = calls.at(-1)!;
          expect(call.op).toBe(c.op);
          // Only the transaction this claim's own bind began.
          expect(owner.get(call.tx)).toBe(claim.token);
          state[c.claim] = 'finished';
          if (c.op === 'rollback') expect(result).toEqual({ r: undefined });
          else if (c.completion === 'commits') expect(result).toEqual({ r: 'ok' });
          else expect('e' in result && isIdempotencyError(result.e, 'ROLLED_BACK')).toBe(true);
        }
        // Ended exactly the transactions of finished claims; the driver throws on a second end.
        for (const t of begun) {
          const claim = Number(owner.get(t)!.slice('token-'.length));
          expect(t.ended !== undefined).toBe(state[claim] === 'finished');
        }
      }),
      fcOptions(200),
    );
  });

  it('property: bind / commit / rollback all in flight at once never cross claims, and end each transaction once', async () => {
    const command = fc.record({
      op: fc.constantFrom('bind' as const, 'commit' as const, 'rollback' as const),
      // Two claims and mostly their own keys, so most runs end transactions.
      claim: fc.nat(1),
      ownKey: fc.constantFrom(true, true, true, false),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 30 }), fc.scheduler(), async (cmds, s) => {
        const { driver, begun } = fakeDriver();
        const owner = new Map<FakeTx, string>();
        const committedBy: string[] = [];
        // bind() calls begin() synchronously: the token binding at that moment began it.
        let binding = '';
        // The completion a store passes here is the committing token, so the driver sees who commits.
        const scheduled: TransactionDriver<FakeTx, string> = {
          name: driver.name,
          begin: () => {
            const token = binding;
            return s.schedule(Promise.resolve(), `begin ${token}`).then(async () => {
              const t = await driver.begin();
              owner.set(t, token);
              return t;
            });
          },
          commit: async (t, token) => {
            expect(owner.get(t)).toBe(token);
            committedBy.push(token);
            await s.schedule(Promise.resolve(), `commit ${token}`);
            return driver.commit(t, 'commits');
          },
          rollback: async (t) => {
            await s.schedule(Promise.resolve(), 'rollback');
            return driver.rollback(t);
          },
        };
        const tx = claimTransactions(scheduled);
        const all = Array.from({ length: 4 }, (_, i) => claimOf(`key-${i}`, `token-${i}`));
        const running = cmds.map(async (c, i) => {
          await s.schedule(Promise.resolve(), `command ${i}`);
          const claim = all[c.claim]!;
          if (c.op === 'bind') {
            binding = claim.token;
            const t = await tx.bind(claim).catch(() => undefined);
            if (t !== undefined) expect(owner.get(t)).toBe(claim.token);
            return;
          }
          const key = c.ownKey ? claim.storeKey : 'key-x';
          if (c.op === 'commit') await tx.commit(key, claim.token, claim.token);
          else await tx.rollback(key, claim.token);
        });
        await s.waitFor(Promise.all(running));
        // Each transaction ended at most once (the driver throws on a second
        // end), and every claim commits at most once.
        expect(new Set(committedBy).size).toBe(committedBy.length);
        for (const t of begun) expect(owner.has(t)).toBe(true);
      }),
      fcOptions(200),
    );
  });
});
