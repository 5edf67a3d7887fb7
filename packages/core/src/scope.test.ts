import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../test/fc.js';
import { STORE_KEY_PREFIX, scopedKey } from './scope.js';

const SHAPE = /^idem1:[A-Za-z0-9_-]{43}$/;

/** Strings built to collide under naive encodings: delimiters, NUL, surrogates, U+FFFD. */
const adversarial = fc.oneof(
  fc.string({
    unit: fc.constantFrom(
      ':',
      '|',
      '\u0000',
      '\ud800',
      '\udc00',
      '\ufffd',
      'a',
      'b',
      '\u0100',
      '\\',
    ),
    maxLength: 12,
  }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ maxLength: 20 }),
);

describe('scopedKey', () => {
  it('maps distinct (scope, key) pairs to distinct store keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        adversarial,
        adversarial,
        adversarial,
        adversarial,
        async (s1, k1, s2, k2) => {
          fc.pre(s1 !== s2 || k1 !== k2);
          expect(await scopedKey(s1, k1)).not.toBe(await scopedKey(s2, k2));
        },
      ),
      fcOptions(300),
    );
  });

  it('cannot be fooled by moving characters between scope and key', async () => {
    await fc.assert(
      fc.asyncProperty(adversarial, fc.nat(), fc.nat(), async (joined, a, b) => {
        const i = a % (joined.length + 1);
        const j = b % (joined.length + 1);
        fc.pre(i !== j);
        const left = await scopedKey(joined.slice(0, i), joined.slice(i));
        const right = await scopedKey(joined.slice(0, j), joined.slice(j));
        expect(left).not.toBe(right);
      }),
      fcOptions(300),
    );
  });

  it('tells apart the classic delimiter and encoding collisions', async () => {
    const pairs: Array<[[string, string], [string, string]]> = [
      [
        ['a:b', 'c'],
        ['a', 'b:c'],
      ],
      [
        ['a|b', 'c'],
        ['a', 'b|c'],
      ],
      [
        ['a\u0000', 'b'],
        ['a', '\u0000b'],
      ],
      [
        ['', 'ab'],
        ['ab', ''],
      ],
      [
        ['t', '\ud800'],
        ['t', '\ufffd'],
      ],
      [
        ['t', '\ud800'],
        ['t', '\udc00'],
      ],
      [
        ['\u0100', 'x'],
        ['\u0001\u0000', 'x'],
      ],
    ];
    for (const [[s1, k1], [s2, k2]] of pairs) {
      expect(await scopedKey(s1, k1), `${s1}/${k1}`).not.toBe(await scopedKey(s2, k2));
    }
  });

  it('is deterministic, bounded and fixed-length, whatever the input length', async () => {
    await fc.assert(
      fc.asyncProperty(adversarial, adversarial, async (scope, key) => {
        const a = await scopedKey(scope, key);
        expect(a).toMatch(SHAPE);
        expect(a.startsWith(STORE_KEY_PREFIX)).toBe(true);
        expect(await scopedKey(scope, key)).toBe(a);
      }),
      fcOptions(200),
    );
    const long = await scopedKey('s'.repeat(1_000_000), 'k'.repeat(1_000_000));
    expect(long).toMatch(SHAPE);
    expect(long).toHaveLength(49);
  });

  it('reveals neither scope nor key', async () => {
    const k = await scopedKey('tenant-42', 'order-123');
    expect(k).not.toContain('tenant');
    expect(k).not.toContain('order');
  });
});
