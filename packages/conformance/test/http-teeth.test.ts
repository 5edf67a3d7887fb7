import { describe, expect, it } from 'vitest';
import { httpChecks, httpSuite } from '../src/http.js';
import { type Flaw, referenceServer, referenceStore } from './http-reference.js';

// A correct adapter (a bare node:http server on @idem/core/http) passes everything.
httpSuite({
  name: 'reference node:http adapter',
  stores: { reference: referenceStore },
  createServer: referenceServer(),
});

/** Which checks each flaw must fail (by a fragment of their name). */
const caughtBy: Record<Exclude<Flaw, 'none'>, string> = {
  'no replay marker': 'a retry gets it back byte for byte',
  'replay drops a header': 'a retry gets it back byte for byte',
  'body not fingerprinted': 'another body, path, method or query',
  'scope ignored': 'scopes never meet',
  '5xx stored': '5xx answers and thrown errors release the key',
  'Set-Cookie replayed': 'a retry gets it back byte for byte',
  'nothing covered': 'without a key gets 400 key-missing',
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
      await expect(aimed[0]!.run()).rejects.toThrow();
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
