import fc from 'fast-check';
import { distance } from './suggest.js';

/**
 * One slip of the keyboard on `name`: a letter dropped, doubled, swapped
 * with the next, replaced, or its case changed. Never a known name, and
 * never a slip that is as close to another known name (that one would be an
 * equally good guess).
 */
export function misspelling(name: string, known: readonly string[]): fc.Arbitrary<string> {
  const at = fc.nat({ max: name.length - 1 });
  const letter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzMS');
  const slip = fc.oneof(
    at.map((i) => name.slice(0, i) + name.slice(i + 1)),
    at.map((i) => name.slice(0, i) + name[i] + name.slice(i)),
    at.map((i) =>
      i + 1 < name.length
        ? name.slice(0, i) + name[i + 1] + name[i] + name.slice(i + 2)
        : `${name}s`,
    ),
    fc.tuple(at, letter).map(([i, c]) => name.slice(0, i) + c + name.slice(i + 1)),
    at.map((i) => {
      const c = name[i]!;
      const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      return name.slice(0, i) + flipped + name.slice(i + 1);
    }),
  );
  // Scored as `closest` scores: a part of a name counts as one edit.
  const score = (typed: string, candidate: string) => {
    const lower = typed.toLowerCase();
    const other = candidate.toLowerCase();
    return lower.length > 3 && other.includes(lower) ? 1 : distance(lower, other);
  };
  return slip.filter(
    (typed) =>
      typed !== '' &&
      !known.includes(typed) &&
      known.every((other) => other === name || score(typed, other) > score(typed, name)),
  );
}

/** A misspelling of one of `known`, with the name it was meant to be. */
export function misspelt(
  known: readonly string[],
): fc.Arbitrary<[intended: string, typed: string]> {
  return fc
    .constantFrom(...known)
    .chain((name) => misspelling(name, known).map((typed) => [name, typed] as [string, string]));
}

/** Values that are not options objects. */
export const notAnObject: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.string(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.anything(), { maxLength: 3 }),
  fc.constant(() => ({})),
);

/** Any value at all, the awkward ones included. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  fc.double(),
  fc.constantFrom(0, -0, -1, Number.NaN, Number.POSITIVE_INFINITY, '', '5000', null, [], () => 1),
);
