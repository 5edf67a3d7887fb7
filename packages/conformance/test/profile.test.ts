import type { Store } from '@idem/core/store';
import { describe, expect, it } from 'vitest';
import { referenceStore } from '../src/http/reference-store.js';
import { type StoreSuiteOptions, storeChecks } from '../src/store.js';

/** The `profile` option: the quick one runs every check, each on a share of the work. */
describe('the store suite profile', () => {
  let claims = 0;
  const shared = referenceStore();
  // One backend for every store and connection, counting the claims that reach it.
  const counting: Store = {
    ...shared,
    claim: (key, request) => {
      claims++;
      return shared.claim(key, request);
    },
  };
  const options = (profile?: 'full' | 'quick'): StoreSuiteOptions => ({
    name: 'reference',
    clock: 'injectable',
    sharedBackend: true,
    raceKeys: 200,
    propertyRuns: 40,
    createStore: () => counting,
    connect: () => ({ store: counting, close() {} }),
    ...(profile ? { profile } : {}),
  });
  const claimsOf = async (profile: 'full' | 'quick' | undefined, name: RegExp) => {
    const check = storeChecks(options(profile)).find((c) => name.test(c.name))!;
    claims = 0;
    await check.run();
    return claims;
  };

  it('is full by default, and the quick one keeps every check', () => {
    const names = (profile?: 'full' | 'quick') => storeChecks(options(profile)).map((c) => c.name);
    expect(names('quick')).toEqual(names());
    expect(names('full')).toEqual(names());
  });

  it('runs a fifth of the property runs, a quarter of the race keys and rounds', async () => {
    // Two claims per run of the isolation property, one per racer and key, one per round.
    expect(await claimsOf(undefined, /^distinct \(scope, key\) pairs/)).toBe(80);
    expect(await claimsOf('quick', /^distinct \(scope, key\) pairs/)).toBe(16);
    expect(await claimsOf('full', /raced over three connections/)).toBe(600);
    expect(await claimsOf('quick', /raced over three connections/)).toBe(150);
    expect(await claimsOf('full', /parallel complete and release/)).toBe(20);
    expect(await claimsOf('quick', /parallel complete and release/)).toBe(5);
  });

  it('refuses a profile it does not know, naming the two it does', () => {
    expect(() => storeChecks({ ...options(), profile: 'fast' as 'quick' })).toThrow(
      expect.objectContaining({
        name: 'ConfigurationError',
        message: expect.stringMatching(
          /profile "fast" is not a profile: use 'full' \(the default\) or 'quick'/,
        ),
      }),
    );
  });
});
