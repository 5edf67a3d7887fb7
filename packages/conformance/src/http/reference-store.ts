import {
  ABSENT,
  type LifecycleEvent,
  observe,
  type RecordState,
  type Store,
  toRecord,
  transition,
} from '@idem/core/store';

/**
 * A store on the reference lifecycle (`transition` of `@idem/core`), in a
 * Map: for checks that must see what the engine asks of a store, and for the
 * suite's own tests (the memory store would be a dependency cycle).
 */
export function referenceStore(): Store {
  const records = new Map<string, RecordState>();
  const apply = (key: string, event: LifecycleEvent) => {
    const { next, result } = transition(records.get(key) ?? ABSENT, event);
    if (next.state === 'absent') records.delete(key);
    else records.set(key, next);
    return result;
  };
  return {
    claim: async (key, r) =>
      apply(key, { type: 'claim', now: Date.now(), ...r }) as Awaited<ReturnType<Store['claim']>>,
    complete: async (key, token, response, ttlMs) =>
      apply(key, { type: 'complete', now: Date.now(), token, response, ttlMs }) as 'ok' | 'stale',
    release: async (key, token) =>
      apply(key, { type: 'release', now: Date.now(), token }) as 'ok' | 'stale',
    renew: async (key, token, leaseMs) =>
      apply(key, { type: 'renew', now: Date.now(), token, leaseMs }) as 'ok' | 'stale',
    read: async (key) => toRecord(observe(records.get(key) ?? ABSENT, Date.now())),
  };
}
