import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../test/fc.js';
import { MAX_KEY_LENGTH, parseIdempotencyKey } from './key.js';

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
/** Characters a bare key may hold: printable ASCII without space and comma. */
const bareChar = printable.filter((c) => c !== ' ' && c !== ',');
/** A bare key; a leading `"` would make it an sf-string, so it cannot start with one. */
const bareKey = fc
  .string({ unit: bareChar, minLength: 1, maxLength: MAX_KEY_LENGTH })
  .filter((k) => !k.startsWith('"'));
const anyKey = fc.string({ unit: printable, minLength: 1, maxLength: MAX_KEY_LENGTH });

/** The key as an RFC 8941 sf-string. */
const quote = (key: string) => `"${key.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

function rejected(header: Parameters<typeof parseIdempotencyKey>[0]): string {
  const parsed = parseIdempotencyKey(header);
  if (parsed.ok || parsed.missing)
    throw new Error(`expected a rejection for ${JSON.stringify(header)}`);
  expect(parsed.reason.length).toBeGreaterThan(0);
  return parsed.reason;
}

describe('parseIdempotencyKey: properties', () => {
  it('a bare key of 1..255 printable ASCII characters (no space, no comma) parses to itself', () => {
    fc.assert(
      fc.property(bareKey, (key) => {
        expect(parseIdempotencyKey(key)).toEqual({ ok: true, key });
        expect(parseIdempotencyKey([key])).toEqual({ ok: true, key });
      }),
      fcOptions(500),
    );
  });

  it('any 1..255 printable ASCII characters, sent as an sf-string, parse to themselves', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        expect(parseIdempotencyKey(quote(key))).toEqual({ ok: true, key });
      }),
      fcOptions(500),
    );
  });

  it('bare and sf-string forms of a key give the same key', () => {
    fc.assert(
      fc.property(bareKey, fc.constantFrom('', ' ', '\t', ' \t '), (key, pad) => {
        const bare = parseIdempotencyKey(`${pad}${key}${pad}`);
        const quoted = parseIdempotencyKey(`${pad}${quote(key)}${pad}`);
        expect(bare).toEqual({ ok: true, key });
        expect(quoted).toEqual(bare);
      }),
      fcOptions(300),
    );
  });

  it('an sf-string followed by parameters (RFC 8941) gives the string; parameters are ignored', () => {
    const paramKey = fc.stringMatching(/^[a-z*][a-z0-9_.*-]{0,6}$/);
    const bareItem = fc.oneof(
      fc.integer({ min: -999_999, max: 999_999 }).map(String),
      fc.constantFrom('?0', '?1', '1.5', ':cHJldGVuZA==:', 'token/v2', '"quoted value"'),
    );
    const parameter = fc
      .tuple(paramKey, fc.option(bareItem, { nil: undefined }), fc.constantFrom('', ' '))
      .map(([name, value, space]) => `;${space}${name}${value === undefined ? '' : `=${value}`}`);
    fc.assert(
      fc.property(anyKey, fc.array(parameter, { minLength: 1, maxLength: 3 }), (key, params) => {
        expect(parseIdempotencyKey(`${quote(key)}${params.join('')}`)).toEqual({ ok: true, key });
      }),
      fcOptions(300),
    );
    // Text after the quote that is not parameters is still refused.
    for (const tail of [' b', ';', ';V=1', ';v=', '; v=1 x', ',"b"']) {
      expect(rejected(`"abc"${tail}`)).toMatch(/more than once|after the quoted key/);
    }
  });

  it('rejects keys longer than 255 characters, bare or quoted', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: bareChar, minLength: MAX_KEY_LENGTH + 1, maxLength: 600 }),
        (key) => {
          fc.pre(!key.startsWith('"'));
          expect(rejected(key)).toMatch(/longer than 255/);
          expect(rejected(quote(key))).toMatch(/longer than 255/);
        },
      ),
      fcOptions(100),
    );
  });

  it('rejects any key holding a non-printable or non-ASCII character', () => {
    const bad = fc.oneof(
      fc.integer({ min: 0, max: 0x1f }),
      fc.constant(0x7f),
      fc.integer({ min: 0x80, max: 0xffff }),
    );
    fc.assert(
      fc.property(bareKey, bad, fc.nat(), (key, code, at) => {
        const i = at % (key.length + 1);
        const dirty = key.slice(0, i) + String.fromCharCode(code) + key.slice(i);
        // Only a leading/trailing tab is whitespace around the value, not part of it.
        fc.pre(code !== 0x09 || (i > 0 && i < key.length));
        rejected(dirty);
        rejected(quote(dirty));
      }),
      fcOptions(300),
    );
  });

  it('rejects two header lines, whether separate or joined with a comma', () => {
    fc.assert(
      fc.property(bareKey, bareKey, (a, b) => {
        expect(rejected([a, b])).toMatch(/more than once/);
        expect(rejected([quote(a), quote(b)])).toMatch(/more than once/);
        expect(rejected(`${a}, ${b}`)).toMatch(/more than once/);
        expect(rejected(`${a},${b}`)).toMatch(/more than once/);
        expect(rejected(`${quote(a)}, ${quote(b)}`)).toMatch(/more than once/);
      }),
      fcOptions(200),
    );
  });

  it('never throws, and whatever it accepts is 1..255 printable ASCII', () => {
    const input = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.constantFrom('"', '\\', ',', ' ', '\t', 'a', '\u0000', 'é') }),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.constantFrom(null, undefined),
      fc.anything(),
    );
    fc.assert(
      fc.property(input, (header) => {
        const parsed = parseIdempotencyKey(header as string);
        if (parsed.ok) {
          expect(parsed.key.length).toBeGreaterThanOrEqual(1);
          expect(parsed.key.length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
          expect(parsed.key).toMatch(/^[\x20-\x7e]+$/);
        }
      }),
      fcOptions(500),
    );
    // 500 runs of arbitrary values take 1 to 5 s of CPU depending on the
    // machine's load (the chaos tests keep its cores busy beside this one).
  }, 30_000);
});

describe('parseIdempotencyKey: examples', () => {
  it('reports a missing header as missing, not invalid', () => {
    expect(parseIdempotencyKey(null)).toEqual({ ok: false, missing: true });
    expect(parseIdempotencyKey(undefined)).toEqual({ ok: false, missing: true });
    expect(parseIdempotencyKey([])).toEqual({ ok: false, missing: true });
  });

  it('accepts the boundaries: 1 and 255 characters', () => {
    expect(parseIdempotencyKey('a')).toEqual({ ok: true, key: 'a' });
    const max = 'k'.repeat(MAX_KEY_LENGTH);
    expect(parseIdempotencyKey(max)).toEqual({ ok: true, key: max });
    expect(parseIdempotencyKey(quote(max))).toEqual({ ok: true, key: max });
    // The quoted form may exceed 255 characters when escapes are involved.
    const escaped = '"'.repeat(MAX_KEY_LENGTH);
    expect(parseIdempotencyKey(quote(escaped))).toEqual({ ok: true, key: escaped });
  });

  it('keeps spaces, commas and escapes inside an sf-string', () => {
    expect(parseIdempotencyKey('"a b, c"')).toEqual({ ok: true, key: 'a b, c' });
    expect(parseIdempotencyKey('"a\\"b\\\\c"')).toEqual({ ok: true, key: 'a"b\\c' });
    // A bare key may hold quotes and backslashes after its first character.
    expect(parseIdempotencyKey('a"b\\c')).toEqual({ ok: true, key: 'a"b\\c' });
  });

  it('strips surrounding spaces and tabs (header whitespace)', () => {
    expect(parseIdempotencyKey(' \tabc \t')).toEqual({ ok: true, key: 'abc' });
  });

  it.each([
    ['empty', '', /empty/],
    ['whitespace only', ' \t ', /empty/],
    ['empty sf-string', '""', /empty/],
    ['256 characters', 'x'.repeat(256), /longer than 255/],
    ['non-ASCII', 'caf\u00e9', /printable ASCII/],
    ['emoji', 'key-\u{1f600}', /printable ASCII/],
    ['NUL', 'a\u0000b', /printable ASCII/],
    ['DEL', 'a\u007fb', /printable ASCII/],
    ['inner tab', 'a\tb', /printable ASCII/],
    ['non-ASCII in an sf-string', '"caf\u00e9"', /printable ASCII/],
    ['bare key with a space', 'a b', /spaces/],
    ['joined lines', 'a, b', /more than once/],
    ['text after an sf-string', '"a" b', /more than once|after/],
    ['unterminated sf-string', '"abc', /closing quote/],
    ['invalid sf-string escape', '"a\\nb"', /escape/],
    ['lone backslash at the end', '"a\\', /escape/],
    ['long run of inner spaces', `a${' '.repeat(20_000)}b`, /longer than 255/],
  ])('rejects %s', (_name, header, reason) => {
    expect(rejected(header)).toMatch(reason);
  });

  it('rejects a header sent twice even when both lines are equal', () => {
    expect(rejected(['abc', 'abc'])).toMatch(/more than once/);
  });

  it('rejects a non-string value instead of throwing', () => {
    expect(rejected([42 as unknown as string])).toMatch(/not a string/);
    expect(rejected({} as unknown as string)).toMatch(/not a string/);
  });
});
