import type { Store } from '@idem/core';

/** A store that throws on every call while `down` is true: an outage the engine meets for real. */
export function switchable(store: Store): { store: Store; down: boolean } {
  const state = { store: undefined as unknown as Store, down: false };
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      state.down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) : call(...args);
  state.store = {
    ...store,
    claim: guard(store.claim.bind(store)),
    complete: guard(store.complete.bind(store)),
    release: guard(store.release.bind(store)),
    renew: guard(store.renew.bind(store)),
    read: guard(store.read.bind(store)),
  };
  return state;
}
