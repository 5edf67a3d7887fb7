import type { ClaimRequest, OwnerResult, StoredResponse } from '@idem/core/store';
import fc from 'fast-check';
import { fcParameters } from '../fc.js';
import { adversarialString, storedResponse } from './arbitraries.js';
import {
  type CheckGroup,
  check,
  checkRecord,
  checkResponse,
  type Harness,
  type StoreCheckReport,
} from './harness.js';
import { modelCheck } from './model.js';
import { raceChecks } from './race.js';
import type { StoreProcesses } from './remote.js';

/** A check's body: gets a harness around a fresh store; some report what they reached. */
// biome-ignore lint/suspicious/noConfusingVoidType: most bodies are plain `async` functions that return nothing
type CheckBody = (h: Harness, runs: RunCounts) => Promise<StoreCheckReport | undefined | void>;

/** How much work each check does, from the options' counts and `profile` (FC_NUM_RUNS overrides the runs). */
export interface RunCounts {
  readonly model: number;
  readonly property: number;
  /** Keys each `connections` check races. */
  readonly raceKeys: number;
  /** The rounds a race check with a fixed count (`full` under the full profile) runs. */
  rounds(full: number): number;
}

export interface CheckSpec {
  readonly group: CheckGroup;
  readonly name: string;
  /** Why these options cannot run it; see `StoreCheck.skip`. */
  readonly skip?: string;
  readonly body: CheckBody;
}

const LEASE = 30_000;
const TTL = 3_600_000;

const response = (status: number, text: string): StoredResponse => ({
  status,
  headers: [
    ['content-type', 'application/json'],
    ['x-run', text],
  ],
  body: new TextEncoder().encode(JSON.stringify({ text })),
});

function claimRequest(fingerprint: string, leaseMs = LEASE): ClaimRequest {
  return { fingerprint, token: crypto.randomUUID(), leaseMs };
}

async function expectOwner(
  what: string,
  call: Promise<OwnerResult>,
  expected: OwnerResult,
): Promise<void> {
  const got = await call;
  check(got === expected, `${what}: expected '${expected}', got '${String(got)}'`);
}

/** Whether `error` is the core's ResponseTooLargeError (by code, so a second copy of core still counts). */
function isTooLarge(error: unknown): boolean {
  return (error as { code?: unknown })?.code === 'RESPONSE_TOO_LARGE';
}

const lifecycle: CheckSpec = {
  group: 'claim',
  name: 'walks one key through claim, conflict, completion, replay and release',
  async body(h) {
    const { store } = h;
    const key = await h.freshKey();
    checkRecord(await store.read(key), undefined, 0, 'read of an unused key');
    for (const op of ['complete', 'release', 'renew'] as const) {
      const call =
        op === 'complete'
          ? store.complete(key, 'no-such-token', response(200, 'x'), TTL)
          : op === 'release'
            ? store.release(key, 'no-such-token')
            : store.renew(key, 'no-such-token', LEASE);
      await expectOwner(`${op} on an absent key`, call, 'stale');
    }
    const first = claimRequest('fp-1');
    const start = h.now();
    const claimed = await store.claim(key, first);
    check(claimed.claimed, 'the first claim of an unused key must succeed');
    checkRecord(
      await store.read(key),
      { state: 'in_progress', fingerprint: 'fp-1', leaseExpiresAt: start + LEASE },
      h.toleranceMs,
      'read after claim',
    );
    const resent = await store.claim(key, first);
    check(
      resent.claimed,
      "a claim resent with the owner's own token (its reply was lost) must report claimed: true",
    );
    const second = await store.claim(key, claimRequest('fp-2'));
    check(!second.claimed, 'a second claim of an in-flight key must not succeed');
    checkRecord(
      second.record,
      { state: 'in_progress', fingerprint: 'fp-1', leaseExpiresAt: start + LEASE },
      h.toleranceMs,
      'the record a refused claim returns',
    );
    const stored = response(201, 'first');
    const completedAt = h.now();
    await expectOwner('complete by the owner', store.complete(key, first.token, stored, TTL), 'ok');
    const completed = {
      state: 'completed',
      fingerprint: 'fp-1',
      expiresAt: completedAt + TTL,
      response: stored,
    } as const;
    checkRecord(await store.read(key), completed, h.toleranceMs, 'read after complete');
    const late = await store.claim(key, first);
    check(
      !late.claimed,
      "a claim with the former owner's token must not reopen a completed record",
    );
    const replay = await store.claim(key, claimRequest('fp-1'));
    check(!replay.claimed, 'a claim of a completed key must not succeed');
    checkRecord(replay.record, completed, h.toleranceMs, 'the completed record a claim returns');
    await expectOwner('release of a completed record', store.release(key, first.token), 'stale');
    await expectOwner('renew of a completed record', store.renew(key, first.token, LEASE), 'stale');
    checkRecord(await store.read(key), completed, h.toleranceMs, 'read after stale calls');

    const other = await h.freshKey();
    const owner = claimRequest('fp-3');
    check((await store.claim(other, owner)).claimed, 'claim of a second unused key');
    await expectOwner('release by the owner', store.release(other, owner.token), 'ok');
    checkRecord(await store.read(other), undefined, 0, 'read after release');
    check(
      (await store.claim(other, claimRequest('fp-3'))).claimed,
      'a released key must be claimable again at once',
    );
  },
};

const parallelClaims: CheckSpec = {
  group: 'concurrency',
  name: 'N parallel claims of one key (N up to 64) give exactly one owner',
  async body(h, runs) {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 64 }), async (n) => {
        const key = await h.freshKey();
        const requests = Array.from({ length: n }, (_, i) => claimRequest(`fp-${i % 3}`));
        const results = await Promise.all(requests.map((r) => h.store.claim(key, r)));
        const winners = results.flatMap((r, i) => (r.claimed ? [requests[i]!] : []));
        check(winners.length === 1, `${n} parallel claims gave ${winners.length} owners`);
        const winner = winners[0]!;
        for (const r of results) {
          if (r.claimed) continue;
          check(
            r.record.state === 'in_progress' && r.record.fingerprint === winner.fingerprint,
            `a losing claim must see the winner's in-flight record (${winner.fingerprint}), got ${r.record.state} ${r.record.fingerprint}`,
          );
        }
        const losers = requests.filter((r) => r !== winner);
        const stale = await Promise.all(
          losers.map((r) => h.store.complete(key, r.token, response(200, 'loser'), TTL)),
        );
        check(
          stale.every((s) => s === 'stale'),
          'a losing claim token must not complete the record',
        );
        await expectOwner(
          'complete by the winner',
          h.store.complete(key, winner.token, response(200, 'winner'), TTL),
          'ok',
        );
      }),
      fcParameters(Math.max(5, Math.ceil(runs.property / 2))),
    );
  },
};

const ownerRaces: CheckSpec = {
  group: 'concurrency',
  name: "the owner's parallel complete and release: exactly one wins, and the state shows which",
  async body(h, counts) {
    for (let round = 0; round < counts.rounds(20); round++) {
      const key = await h.freshKey();
      const owner = claimRequest('fp');
      check((await h.store.claim(key, owner)).claimed, 'claim of an unused key');
      const a = response(200, `a${round}`);
      const b = response(201, `b${round}`);
      const [ca, rel, cb] = await Promise.all([
        h.store.complete(key, owner.token, a, TTL),
        h.store.release(key, owner.token),
        h.store.complete(key, owner.token, b, TTL),
      ]);
      const oks = [ca, rel, cb].filter((x) => x === 'ok').length;
      check(oks === 1, `complete, release, complete raced: ${oks} of them succeeded, expected 1`);
      const record = await h.store.read(key);
      if (rel === 'ok') check(record === undefined, 'release won, yet a record is live');
      else {
        check(record?.state === 'completed', 'a completion won, yet no completed record');
        checkResponse(record.response, ca === 'ok' ? a : b, 'the winning completion');
      }
    }
  },
};

const twoInstances: CheckSpec = {
  group: 'concurrency',
  name: 'two store instances on one backend racing one key give exactly one owner',
  async body(h, counts) {
    const other = await h.another();
    for (let round = 0; round < counts.rounds(10); round++) {
      const key = await h.freshKey();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? other : h.store).claim(key, claimRequest('fp')),
        ),
      );
      const owners = results.filter((r) => r.claimed).length;
      check(owners === 1, `40 claims over two instances gave ${owners} owners`);
    }
  },
};

const staleAfterTakeover: CheckSpec = {
  group: 'fencing',
  name: 'a stale token can neither complete, release nor renew after its lease was taken over',
  async body(h) {
    const lease = h.scaled(h.injectable ? 1_000 : 400);
    const key = await h.freshKey();
    const old = claimRequest('fp-old', lease);
    check((await h.store.claim(key, old)).claimed, 'first claim');
    await h.advance(lease + h.scaled(h.injectable ? 1 : 250));
    const current = claimRequest('fp-new');
    check(
      (await h.store.claim(key, current)).claimed,
      'a claim after the lease ran out must take the key over',
    );
    await expectOwner(
      'complete with the stale token',
      h.store.complete(key, old.token, response(200, 'stale'), TTL),
      'stale',
    );
    await expectOwner('renew with the stale token', h.store.renew(key, old.token, LEASE), 'stale');
    await expectOwner('release with the stale token', h.store.release(key, old.token), 'stale');
    const record = await h.store.read(key);
    check(
      record?.state === 'in_progress' && record.fingerprint === 'fp-new',
      "stale calls must leave the new owner's in-flight record untouched",
    );
    const result = response(201, 'current');
    await expectOwner(
      'complete by the current owner',
      h.store.complete(key, current.token, result, TTL),
      'ok',
    );
    await expectOwner(
      'a late completion by the stale owner',
      h.store.complete(key, old.token, response(200, 'late'), TTL),
      'stale',
    );
    const after = await h.store.read(key);
    check(after?.state === 'completed', 'the record must stay completed');
    checkResponse(after.response, result, 'a stale completion must never overwrite a newer result');
  },
};

const foreignTokens: CheckSpec = {
  group: 'fencing',
  name: 'tokens that never owned the record, or owned it before completion, change nothing',
  async body(h, counts) {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), async (foreign) => {
        const key = await h.freshKey();
        const owner = claimRequest('fp');
        check((await h.store.claim(key, owner)).claimed, 'claim of an unused key');
        if (foreign === owner.token) return;
        await expectOwner(
          'complete with a foreign token',
          h.store.complete(key, foreign, response(200, 'x'), TTL),
          'stale',
        );
        await expectOwner(
          'renew with a foreign token',
          h.store.renew(key, foreign, LEASE),
          'stale',
        );
        await expectOwner('release with a foreign token', h.store.release(key, foreign), 'stale');
        const first = response(201, 'first');
        await expectOwner(
          'complete by the owner',
          h.store.complete(key, owner.token, first, TTL),
          'ok',
        );
        await expectOwner(
          'a second completion by the same token',
          h.store.complete(key, owner.token, response(500, 'second'), TTL),
          'stale',
        );
        const record = await h.store.read(key);
        check(record?.state === 'completed', 'the record must be completed');
        checkResponse(record.response, first, 'the first completion must stand');
      }),
      fcParameters(Math.max(10, Math.ceil(counts.property / 2))),
    );
  },
};

const roundTrips: CheckSpec = {
  group: 'roundtrip',
  name: 'keeps arbitrary responses byte-exact (status, repeated headers, binary bodies)',
  async body(h, counts) {
    const roundTrip = async (stored: StoredResponse, what: string) => {
      const key = await h.freshKey();
      const owner = claimRequest('fp');
      check((await h.store.claim(key, owner)).claimed, 'claim of an unused key');
      await expectOwner(what, h.store.complete(key, owner.token, stored, TTL), 'ok');
      const read = await h.store.read(key);
      check(read?.state === 'completed', `${what}: read must return the completed record`);
      checkResponse(read.response, stored, `${what} (read)`);
      const claim = await h.store.claim(key, claimRequest('fp'));
      check(
        !claim.claimed && claim.record.state === 'completed',
        `${what}: claim must return the completed record`,
      );
      checkResponse(claim.record.response, stored, `${what} (claim)`);
    };
    const max = h.maxBodyBytes;
    const everyByte = new Uint8Array(256 * 4).map((_, i) => i & 0xff);
    await roundTrip({ status: 204, headers: [], body: new Uint8Array(0) }, 'an empty 204');
    await roundTrip(
      {
        status: 200,
        headers: [
          ['set-cookie', 'a=1'],
          ['content-type', 'application/octet-stream'],
          ['set-cookie', 'b=2'],
        ],
        body: everyByte.slice(0, Math.min(everyByte.byteLength, max)),
      },
      'every byte value with repeated headers',
    );
    const big = new Uint8Array(max).map((_, i) => (i * 131 + (i >> 8)) & 0xff);
    await roundTrip(
      { status: 200, headers: [['content-type', 'application/octet-stream']], body: big },
      `a ${max}-byte binary body`,
    );
    // Bytes that are invalid UTF-8 catch stores that pass bodies through strings.
    await roundTrip(
      {
        status: 200,
        headers: [],
        body: new Uint8Array([0xc3, 0x28, 0xff, 0xfe, 0x00, 0xed, 0xa0, 0x80]),
      },
      'invalid UTF-8 bytes',
    );
    await fc.assert(
      fc.asyncProperty(storedResponse(max), async (stored) =>
        roundTrip(stored, 'a random response'),
      ),
      fcParameters(counts.property),
    );
  },
};

const tooLarge: CheckSpec = {
  group: 'roundtrip',
  name: 'refuses a response over its maxResponseBytes with ResponseTooLargeError and changes nothing',
  async body(h) {
    const limit = h.store.maxResponseBytes;
    if (limit === undefined || !Number.isFinite(limit)) return;
    const key = await h.freshKey();
    const owner = claimRequest('fp');
    check((await h.store.claim(key, owner)).claimed, 'claim of an unused key');
    let error: unknown;
    try {
      await h.store.complete(
        key,
        owner.token,
        { status: 200, headers: [], body: new Uint8Array(limit + 1) },
        TTL,
      );
    } catch (e) {
      error = e;
    }
    check(
      isTooLarge(error),
      `complete with ${limit + 1} body bytes (limit ${limit}) must throw ResponseTooLargeError, got ${String(error)}`,
    );
    const record = await h.store.read(key);
    check(record?.state === 'in_progress', 'a refused completion must leave the record in flight');
    await expectOwner(
      'complete with a small response afterwards',
      h.store.complete(key, owner.token, response(200, 'small'), TTL),
      'ok',
    );
  },
};

const isolation: CheckSpec = {
  group: 'isolation',
  name: 'distinct (scope, key) pairs never see each other, whatever characters they hold',
  async body(h, counts) {
    const pair = fc.tuple(adversarialString, adversarialString);
    // Moving a delimiter between scope and key is the classic injection.
    const shifted = fc.tuple(adversarialString, adversarialString, adversarialString).map(
      ([a, b, c]) =>
        [
          [`${a}:${b}`, c],
          [a, `${b}:${c}`],
        ] as const,
    );
    const pairs = fc.oneof(
      fc.tuple(pair, pair).filter(([x, y]) => x[0] !== y[0] || x[1] !== y[1]),
      shifted.filter(([x, y]) => x[0] !== y[0] || x[1] !== y[1]),
    );
    await fc.assert(
      fc.asyncProperty(pairs, async ([[s1, k1], [s2, k2]]) => {
        const keyOf = h.namespace();
        const [a, b] = await Promise.all([keyOf(s1, k1), keyOf(s2, k2)]);
        check(a !== b, 'distinct (scope, key) pairs must give distinct store keys');
        const ownerA = claimRequest('fp-a');
        check((await h.store.claim(a, ownerA)).claimed, 'claim of pair A');
        checkRecord(await h.store.read(b), undefined, 0, "pair B must not see pair A's claim");
        const ownerB = claimRequest('fp-b');
        check((await h.store.claim(b, ownerB)).claimed, 'pair B must be claimable beside pair A');
        await expectOwner(
          "A's token on B",
          h.store.complete(b, ownerA.token, response(200, 'a'), TTL),
          'stale',
        );
        const stored = response(201, 'a');
        await expectOwner('complete A', h.store.complete(a, ownerA.token, stored, TTL), 'ok');
        const recordB = await h.store.read(b);
        check(
          recordB?.state === 'in_progress' && recordB.fingerprint === 'fp-b',
          "completing pair A must leave pair B's record alone",
        );
        await expectOwner('release B', h.store.release(b, ownerB.token), 'ok');
        const recordA = await h.store.read(a);
        check(recordA?.state === 'completed', "releasing pair B must leave pair A's record alone");
        checkResponse(recordA.response, stored, 'pair A after B was released');
      }),
      fcParameters(counts.property),
    );
  },
};

const leaseExpiry: CheckSpec = {
  group: 'expiry',
  name: 'an in-flight record blocks others until its lease runs out, then the next claim takes over',
  async body(h) {
    const lease = h.scaled(h.injectable ? 10_000 : 600);
    const key = await h.freshKey();
    check((await h.store.claim(key, claimRequest('fp-1', lease))).claimed, 'first claim');
    if (h.injectable) {
      await h.advance(lease - h.resolutionMs);
    }
    const during = await h.store.claim(key, claimRequest('fp-2'));
    check(!during.claimed, 'a claim before the lease ran out must not succeed');
    await h.advance(h.injectable ? h.resolutionMs : lease + h.scaled(300));
    checkRecord(
      await h.store.read(key),
      undefined,
      0,
      'read once the lease ran out (an expired in-flight record is absent)',
    );
    const after = await h.store.claim(key, claimRequest('fp-2'));
    check(after.claimed, 'a claim once the lease ran out must take the key over');
  },
};

const leaseEnd: CheckSpec = {
  group: 'expiry',
  name: 'an owner whose lease ran out can neither complete, release nor renew, even with nobody else on the key (at the deadline itself, on an injectable clock)',
  async body(h) {
    const lease = h.scaled(h.injectable ? 10_000 : 600);
    for (const op of ['complete', 'release', 'renew'] as const) {
      const key = await h.freshKey();
      const owner = claimRequest('fp', lease);
      check((await h.store.claim(key, owner)).claimed, `${op}: first claim`);
      // The lease is [claim, claim + leaseMs): its last instant is not the owner's.
      await h.advance(h.injectable ? lease : lease + h.scaled(300));
      const call =
        op === 'complete'
          ? h.store.complete(key, owner.token, response(201, 'late'), TTL)
          : op === 'release'
            ? h.store.release(key, owner.token)
            : h.store.renew(key, owner.token, lease);
      await expectOwner(`${op} once the lease ran out`, call, 'stale');
      check(
        (await h.store.claim(key, claimRequest('fp-2'))).claimed,
        `${op}: a new claim takes the key once the lease ran out`,
      );
    }
  },
};

const renewal: CheckSpec = {
  group: 'expiry',
  name: "renew moves the owner's lease to now + leaseMs",
  async body(h) {
    const lease = h.scaled(h.injectable ? 10_000 : 1_000);
    const step = h.scaled(Math.ceil(lease * 0.6));
    const key = await h.freshKey();
    const owner = claimRequest('fp', lease);
    check((await h.store.claim(key, owner)).claimed, 'first claim');
    await h.advance(step);
    await expectOwner('renew by the owner', h.store.renew(key, owner.token, lease), 'ok');
    await h.advance(step);
    check(
      !(await h.store.claim(key, claimRequest('fp'))).claimed,
      'a renewed lease must still hold past the original deadline',
    );
    await h.advance(h.injectable ? lease - step : step + h.scaled(300));
    check(
      (await h.store.claim(key, claimRequest('fp'))).claimed,
      'the renewed lease must run out leaseMs after the renewal',
    );
    await expectOwner(
      'renew once the lease was taken over',
      h.store.renew(key, owner.token, lease),
      'stale',
    );
  },
};

const recordExpiry: CheckSpec = {
  group: 'expiry',
  name: 'a completed record is kept until its expiry, then behaves as absent',
  async body(h) {
    const ttl = h.scaled(h.injectable ? 86_400_000 : 800);
    const key = await h.freshKey();
    const owner = claimRequest('fp', h.scaled(60_000));
    check((await h.store.claim(key, owner)).claimed, 'first claim');
    await expectOwner(
      'complete',
      h.store.complete(key, owner.token, response(200, 'done'), ttl),
      'ok',
    );
    if (h.injectable) await h.advance(ttl - h.resolutionMs);
    const kept = await h.store.read(key);
    check(kept?.state === 'completed', 'a completed record must be kept until its expiry');
    await h.advance(h.injectable ? h.resolutionMs : ttl + h.scaled(300));
    checkRecord(await h.store.read(key), undefined, 0, 'read once the record expired');
    const again = await h.store.claim(key, claimRequest('fp-new'));
    check(again.claimed, 'a key whose record expired must be claimable as a new request');
  },
};

const removal: CheckSpec = {
  group: 'claim',
  name: "remove (the operators' optional call) deletes a record in any state, and its owner's token goes stale",
  async body(h) {
    const { store } = h;
    if (!store.remove) return; // optional: a store without it cannot free keys early
    const inFlight = await h.freshKey();
    const owner = claimRequest('fp-1');
    check((await store.claim(inFlight, owner)).claimed, 'the first claim must succeed');
    await store.remove(inFlight);
    checkRecord(await store.read(inFlight), undefined, 0, 'read after removing a record in flight');
    await expectOwner(
      "the removed owner's complete",
      store.complete(inFlight, owner.token, response(200, 'late'), TTL),
      'stale',
    );
    check(
      (await store.claim(inFlight, claimRequest('fp-2'))).claimed,
      'a removed key is claimable',
    );
    const completed = await h.freshKey();
    const second = claimRequest('fp-1');
    await store.claim(completed, second);
    await expectOwner(
      'complete',
      store.complete(completed, second.token, response(201, 'done'), TTL),
      'ok',
    );
    await store.remove(completed);
    checkRecord(
      await store.read(completed),
      undefined,
      0,
      'read after removing a completed record',
    );
    check(
      (await store.claim(completed, claimRequest('fp-1'))).claimed,
      'a removed completed key is claimable',
    );
    await store.remove(await h.freshKey()); // an absent key: nothing to do, no error
  },
};

const model: CheckSpec = {
  group: 'model',
  name: 'agrees with the reference lifecycle on random command sequences',
  body: async (h, counts) => ({ lifecycle: await modelCheck(h, counts.model) }),
};

/** Every check, in the order the suite runs them. */
export function allChecks(options: {
  readonly sharedBackend?: boolean;
  readonly processes?: StoreProcesses;
}): readonly CheckSpec[] {
  return [
    lifecycle,
    removal,
    model,
    parallelClaims,
    ownerRaces,
    ...(options.sharedBackend ? [twoInstances] : []),
    staleAfterTakeover,
    foreignTokens,
    roundTrips,
    tooLarge,
    isolation,
    leaseExpiry,
    leaseEnd,
    renewal,
    recordExpiry,
    ...raceChecks(options),
  ];
}
