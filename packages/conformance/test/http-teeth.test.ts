import type { Store } from '@idem/core/store';
import { describe, expect, it, vi } from 'vitest';
import { type HttpSuiteOptions, httpChecks, httpSuite } from '../src/http.js';
import { type Flaw, referenceServer, referenceStore } from './http-reference.js';

// A correct adapter (a bare node:http server on @idem/core/http) passes everything.
httpSuite({
  name: 'reference node:http adapter',
  stores: { reference: referenceStore },
  createServer: referenceServer(),
});

const MiB_CHECK =
  "1 MiB request and response bodies replay byte for byte, or get 410 over the store's limit";

/** The reference store, keeping bodies up to `limit` bytes as a store with an item limit does. */
function limitedStore(limit: number, declared: boolean): () => Store {
  return () => {
    const store = referenceStore();
    if (declared) return { ...store, maxResponseBytes: limit };
    // The flaw: no declared limit, bodies cut to what fits.
    return {
      ...store,
      complete: (key, token, response, ttlMs) =>
        store.complete(key, token, { ...response, body: response.body.slice(0, limit) }, ttlMs),
    };
  };
}

function bodiesCheck(store: () => Store): ReturnType<typeof httpChecks>[number] {
  const options: HttpSuiteOptions = {
    name: 'limited',
    stores: { limited: store },
    createServer: referenceServer(),
  };
  const check = httpChecks(options, 'limited').find((c) => c.name === MiB_CHECK);
  if (!check) throw new Error(`no check named ${MiB_CHECK}`);
  return check;
}

describe("the 1 MiB check follows the store's limit", () => {
  it('expects 410 response-not-stored, not a replay, from a store that keeps 350 KiB', async () => {
    await bodiesCheck(limitedStore(350 * 1024, true)).run();
  });

  it('catches a store that cuts what it cannot keep instead of declaring maxResponseBytes', async () => {
    await expect(bodiesCheck(limitedStore(350 * 1024, false)).run()).rejects.toThrow(
      /replayed body differs/,
    );
  });
});

/** Which checks each flaw must fail (by a fragment of their name). */
const caughtBy: Record<Exclude<Flaw, 'none'>, string> = {
  'no replay marker': 'a retry gets it back byte for byte',
  'replay drops a header': 'a retry gets it back byte for byte',
  'body not fingerprinted': 'another body, path, method or query',
  'scope ignored': 'scopes never meet',
  '5xx stored': 'transient answers (5xx, 408, 425, 429) and thrown errors release the key',
  'Set-Cookie replayed': 'a retry gets it back byte for byte',
  'nothing covered': 'without a key gets 400 key-missing',
  'route options ignored': "a route's own key header, or list of headers",
  'body limit decided first': 'the body limit comes after method, skip and key',
  'a body read first is lost': 'a body the app read before idem counts as if idem had read it',
  'logger ignored': "a failing store is reported once to the options' logger",
};

describe('@idem/conformance http suite has teeth', () => {
  for (const [flaw, fragment] of Object.entries(caughtBy) as Array<[Flaw, string]>) {
    it(`catches an adapter with "${flaw}"`, async () => {
      const checks = httpChecks(
        { name: flaw, stores: { reference: referenceStore }, createServer: referenceServer(flaw) },
        'reference',
      );
      const aimed = checks.filter((c) => c.name.includes(fragment));
      expect(aimed).toHaveLength(1);
      // Where the logger is ignored, idem falls back to console: keep it off the test output.
      const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
      let printed: unknown[][];
      try {
        await expect(aimed[0]!.run()).rejects.toThrow();
      } finally {
        printed = [...consoleError.mock.calls];
        consoleError.mockRestore();
      }
      if (flaw === 'logger ignored') {
        expect(printed).toContainEqual([
          expect.stringContaining('conformance: broken store'),
          expect.any(Error),
        ]);
      }
    });
  }

  it('refuses an unknown store name, naming the ones it has', () => {
    expect(() =>
      httpChecks(
        { name: 'x', stores: { memory: referenceStore }, createServer: referenceServer() },
        'redis',
      ),
    ).toThrow(/options.stores has memory/);
  });
});
