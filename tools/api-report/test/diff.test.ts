import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../src/diff.js';

// Few distinct lines, so that texts share lines and the diff has work to do.
const text = fc
  .array(fc.constantFrom('a', 'b', 'c', 'd', ''), { maxLength: 30 })
  .map((lines) => lines.join('\n'));

function side(diff: string, keep: '-' | '+'): string {
  return diff
    .split('\n')
    .filter((line) => !line.startsWith('@@') && (line[0] === ' ' || line[0] === keep))
    .map((line) => line.slice(2))
    .join('\n');
}

describe('unifiedDiff', () => {
  it('is empty exactly when the texts are equal', () => {
    fc.assert(
      fc.property(text, text, (before, after) => {
        expect(unifiedDiff(before, after) === '').toBe(before === after);
      }),
    );
  });

  it('shown with every line, gives back both texts', () => {
    fc.assert(
      fc.property(text, text, (before, after) => {
        fc.pre(before !== after);
        const diff = unifiedDiff(before, after, Number.POSITIVE_INFINITY);
        expect(side(diff, '-')).toBe(before);
        expect(side(diff, '+')).toBe(after);
      }),
    );
  });

  it('shows two lines of context around a change, and no more', () => {
    const before = ['1', '2', '3', '4', '5', '6', '7'].join('\n');
    const after = before.replace('4', 'four');
    expect(unifiedDiff(before, after)).toBe(
      ['@@ -2 +2 @@', '  2', '  3', '- 4', '+ four', '  5', '  6'].join('\n'),
    );
  });
});
