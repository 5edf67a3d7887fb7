import {
  ABSENT,
  type LifecycleEvent,
  observe,
  type RecordState,
  ResponseTooLargeError,
  type Store,
  toRecord,
  transition,
} from '@idem/core/store';
import { describe, expect, it } from 'vitest';
import { skipReason } from '../src/skip.js';
import { type CheckGroup, type StoreSuiteOptions, storeChecks } from '../src/store.js';

/**
 * The suite must have teeth: a correct store passes every check, and each
 * classic mistake fails the checks aimed at it.
 */

type Flaw =
  | 'none'
  | 'check-then-set claim'
  | 'no token check'
  | 'expiry ignored'
  | 'lossy body'
  | 'keys split on ":"'
  | 'renew does nothing'
  | 'owner outlives lease'
  | 'no size limit';

/** A store on the reference lifecycle, with one deliberate flaw. */
function flawedStore(
  flaw: Flaw,
  now: () => number,
  records: Map<string, RecordState> = new Map(),
): Store {
  // A store that parses its own namespace out of the key by a delimiter.
  const key = (k: string) => (flaw === 'keys split on ":"' ? (k.split(':')[0] ?? k) : k);
  const live = (state: RecordState | undefined) =>
    flaw === 'expiry ignored' ? (state ?? ABSENT) : observe(state ?? ABSENT, now());

  // Deadlines pushed to infinity: the store never notices a lease or TTL ran out.
  const immortal = (s: RecordState): RecordState =>
    s.state === 'in_progress'
      ? { ...s, leaseExpiresAt: Number.POSITIVE_INFINITY }
      : s.state === 'completed'
        ? { ...s, expiresAt: Number.POSITIVE_INFINITY }
        : s;

  function apply(k: string, event: LifecycleEvent) {
    const stored = records.get(key(k)) ?? ABSENT;
    // The owner's own calls match on the token alone and never look at the lease.
    const ownerCall =
      flaw === 'owner outlives lease' &&
      event.type !== 'claim' &&
      stored.state === 'in_progress' &&
      'token' in event &&
      event.token === stored.token;
    const before = flaw === 'expiry ignored' || ownerCall ? immortal(stored) : stored;
    if (flaw === 'no token check' && before.state === 'in_progress' && 'token' in event) {
      event = { ...event, token: before.token };
    }
    if (flaw === 'renew does nothing' && event.type === 'renew') {
      return transition(before, event).result === 'ok' ? 'ok' : 'stale';
    }
    const { next, result } = transition(before, event);
    if (next === before) return result;
    if (next.state === 'absent') records.delete(key(k));
    else records.set(key(k), next);
    return result;
  }

  return {
    maxResponseBytes: 64 * 1024 * 1024,
    async claim(k, request) {
      if (flaw === 'check-then-set claim') {
        const seen = live(records.get(key(k)));
        await new Promise((r) => setTimeout(r, 0));
        if (seen.state !== 'absent') return { claimed: false, record: toRecord(seen)! };
        records.set(key(k), {
          state: 'in_progress',
          fingerprint: request.fingerprint,
          token: request.token,
          leaseExpiresAt: now() + request.leaseMs,
        });
        return { claimed: true };
      }
      return apply(k, { type: 'claim', now: now(), ...request }) as Awaited<
        ReturnType<Store['claim']>
      >;
    },
    async complete(k, token, response, ttlMs) {
      if (flaw !== 'no size limit' && response.body.byteLength > 64 * 1024 * 1024) {
        throw new ResponseTooLargeError(response.body.byteLength, 64 * 1024 * 1024);
      }
      const body =
        flaw === 'lossy body'
          ? new TextEncoder().encode(new TextDecoder().decode(response.body))
          : response.body.slice();
      return apply(k, {
        type: 'complete',
        now: now(),
        token,
        response: { ...response, body },
        ttlMs,
      }) as 'ok' | 'stale';
    },
    async release(k, token) {
      return apply(k, { type: 'release', now: now(), token }) as 'ok' | 'stale';
    },
    async renew(k, token, leaseMs) {
      return apply(k, { type: 'renew', now: now(), token, leaseMs }) as 'ok' | 'stale';
    },
    async read(k) {
      return toRecord(live(records.get(key(k))));
    },
  };
}

function options(flaw: Flaw): StoreSuiteOptions {
  // Every store, `connect`'s too, on one map: connections to one backend.
  const records = new Map<string, RecordState>();
  return {
    name: flaw,
    clock: 'injectable',
    createStore: ({ now }) => flawedStore(flaw, now, records),
    connect: ({ now }) => ({ store: flawedStore(flaw, now, records), close() {} }),
  };
}

async function failingGroups(flaw: Flaw): Promise<Map<string, string>> {
  const failures = new Map<string, string>();
  const suite = options(flaw);
  for (const check of storeChecks(suite)) {
    // The processes race needs `processes` (sqlite-race.test.ts gives it).
    if (skipReason(suite, check)) continue;
    try {
      await check.run();
    } catch (error) {
      failures.set(`${check.group}: ${check.name}`, String(error));
    }
  }
  return failures;
}

describe('the store suite has teeth', () => {
  it('passes the reference lifecycle with no flaw', async () => {
    expect(await failingGroups('none')).toEqual(new Map());
  }, 60_000);

  const cases: Array<[Flaw, CheckGroup[]]> = [
    ['check-then-set claim', ['concurrency', 'connections']],
    ['no token check', ['model', 'fencing']],
    ['expiry ignored', ['model', 'expiry', 'fencing']],
    ['lossy body', ['roundtrip']],
    ['keys split on ":"', ['isolation', 'claim']],
    ['renew does nothing', ['model', 'expiry']],
    ['owner outlives lease', ['expiry']],
    ['no size limit', ['roundtrip']],
  ];
  for (const [flaw, groups] of cases) {
    it(`fails a store with ${flaw} in ${groups.join(', ')}`, async () => {
      const failures = await failingGroups(flaw);
      const failed = new Set([...failures.keys()].map((name) => name.split(':')[0]));
      for (const group of groups) expect(failed, `${flaw}: ${[...failures]}`).toContain(group);
    }, 120_000);
  }
});
