import type { Store } from '@idem/core/store';
import { describe, expect, it } from 'vitest';
import { referenceStore } from '../src/http/reference-store.js';
import { httpChecks, referenceServer, storeHttpSuite } from '../src/http.js';

// The helper store authors call: the whole HTTP suite, on a store, through the
// reference server it starts itself (no adapter to wire).
storeHttpSuite({ name: 'reference store', createStore: () => referenceStore() });

/** A store that keeps the body but loses the response's headers, as a careless serializer does. */
function headerlessStore(): Store {
  const store = referenceStore();
  return {
    ...store,
    complete: (key, token, response, ttlMs) =>
      store.complete(key, token, { ...response, headers: [] }, ttlMs),
  };
}

describe('the reference server', () => {
  it('lets the HTTP suite catch a store that drops the headers it was given', async () => {
    const checks = httpChecks(
      {
        name: 'headerless',
        stores: { headerless: headerlessStore },
        createServer: referenceServer,
      },
      'headerless',
    ).filter((c) => c.group === 'replay');
    const failed: string[] = [];
    for (const c of checks) await c.run().catch(() => failed.push(c.name));
    expect(failed).toContain(
      'the first request runs once and goes out untouched; a retry gets it back byte for byte',
    );
  }, 60_000);
});
