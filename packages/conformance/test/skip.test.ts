import { describe, expect, it } from 'vitest';
import { httpChecks } from '../src/http.js';
import { assertKnownChecks, skipReason } from '../src/skip.js';
import { storeChecks } from '../src/store.js';
import { referenceServer, referenceStore } from './http-reference.js';

const http = httpChecks(
  { name: 'x', stores: { reference: referenceStore }, createServer: referenceServer() },
  'reference',
);
const store = storeChecks({ name: 'x', clock: 'injectable', createStore: referenceStore });

describe('skipGroups and skipChecks', () => {
  const check = { group: 'bodies', name: 'a check' };

  it('skip a check by its group or by its name, with the reason given', () => {
    expect(skipReason({}, check)).toBeUndefined();
    expect(skipReason({ skipGroups: { bodies: 'group reason' } }, check)).toBe('group reason');
    expect(skipReason({ skipChecks: { 'a check': 'check reason' } }, check)).toBe('check reason');
    expect(skipReason({ skipChecks: { 'another check': 'no' } }, check)).toBeUndefined();
    expect(
      skipReason({ skipGroups: { bodies: 'group' }, skipChecks: { 'a check': 'check' } }, check),
    ).toBe('group');
  });

  it("accept every check's name, as the test title shows it without its group", () => {
    for (const [suite, checks] of [
      ['httpSuite', http],
      ['storeSuite', store],
    ] as const) {
      const names = checks.map((c) => c.name);
      expect(new Set(names).size, `${suite}: check names are unique`).toBe(names.length);
      const all = Object.fromEntries(names.map((n) => [n, 'reason']));
      expect(() => assertKnownChecks(suite, all, names)).not.toThrow();
    }
  });

  it('refuse a name that matches no check, naming it', () => {
    const names = http.map((c) => c.name);
    expect(() =>
      assertKnownChecks(
        'httpSuite',
        { 'bodies: 1 MiB bodies': 'a group prefix is no name' },
        names,
      ),
    ).toThrow(/httpSuite: skipChecks names no check: "bodies: 1 MiB bodies"/);
  });
});
