import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../test/fc.js';
import {
  canonicalizeJsonText,
  canonicalizeValue,
  canonicalNumber,
  MAX_DEPTH,
} from './canonical-json.js';

const canon = canonicalizeJsonText;

/** A deterministic PRNG (mulberry32), seeded by fast-check, to pick among textual variants. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** A JSON string literal for `s` with each code unit randomly written literally or escaped. */
function stringVariant(s: string, r: () => number): string {
  let out = '"';
  for (const ch of s) {
    // Iterate code points, but escape per code unit (surrogate pairs become two \u escapes).
    for (let i = 0; i < ch.length; i++) {
      const unit = ch.charCodeAt(i);
      const mustEscape = ch === '"' || ch === '\\' || unit < 0x20 || ch.length !== 1;
      const pick = r();
      if (!mustEscape && pick < 0.5) {
        out += ch[i];
      } else if (SHORT_ESCAPES[ch] !== undefined && pick < 0.75) {
        out += SHORT_ESCAPES[ch];
      } else if (ch === '/' && pick < 0.75) {
        out += '\\/';
      } else if (ch.length === 2 && unit >= 0xd800 && unit <= 0xdfff && pick < 0.2) {
        // A well-formed pair may stay literal (only when both halves do; see below).
        out += ch[i];
      } else {
        const hex = unit.toString(16).padStart(4, '0');
        out += `\\u${r() < 0.5 ? hex : hex.toUpperCase()}`;
      }
    }
  }
  return `${out}"`;
}

/** Another lexeme with the same exact decimal value. */
function numberVariant(n: number, r: () => number): string {
  const lexeme = JSON.stringify(n);
  const [mantissa = lexeme, exp = '0'] = lexeme.split('e');
  const e = Number(exp);
  switch (Math.floor(r() * 5)) {
    case 0:
      return lexeme;
    case 1: // trailing zeros in the fraction
      return `${mantissa.includes('.') ? mantissa : `${mantissa}.`}00${exp === '0' ? '' : `e${exp}`}`;
    case 2: // one more digit, one less power of ten
      // (`00` is not a JSON number: zero keeps its one digit.)
      return mantissa.includes('.') || n === 0 ? lexeme : `${mantissa}0e${e - 1}`;
    case 3: // upper-case E with an explicit sign
      return `${mantissa}E${e >= 0 ? '+' : ''}${e}`;
    default: // leading zeros in the exponent
      return `${mantissa}e${e < 0 ? '-' : '+'}00${Math.abs(e)}`;
  }
}

const WS = [' ', '\t', '\n', '\r', '  '];
const ws = (r: () => number) => (r() < 0.5 ? '' : WS[Math.floor(r() * WS.length)]!);

/**
 * A JSON text meaning the same value as `JSON.stringify(v)`: keys reordered,
 * whitespace inserted, strings re-escaped, numbers rewritten, and decoy
 * duplicate keys placed before the real ones (the last one wins).
 */
function variant(v: unknown, r: () => number): string {
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') return numberVariant(v, r);
  if (typeof v === 'string') return stringVariant(v, r);
  if (Array.isArray(v)) {
    return `[${v.map((x) => `${ws(r)}${variant(x, r)}${ws(r)}`).join(',')}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  const members: string[] = [];
  for (const [k, x] of entries) {
    if (r() < 0.2) members.push(`${stringVariant(k, r)}:${ws(r)}"decoy"`);
    members.push(`${ws(r)}${stringVariant(k, r)}${ws(r)}:${ws(r)}${variant(x, r)}${ws(r)}`);
  }
  return `{${members.join(',')}}`;
}

/** JSON values with fast-check's full unicode strings (lone surrogates included). */
const jsonValue = fc.jsonValue({ maxDepth: 4 });
const unicodeJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });

describe('canonicalizeJsonText: properties', () => {
  it('is invariant under key reordering, whitespace, escapes, number spelling and decoy duplicate keys', () => {
    fc.assert(
      fc.property(fc.oneof(jsonValue, unicodeJson), fc.integer(), (v, seed) => {
        const reference = canon(JSON.stringify(v));
        expect(reference).toBeTypeOf('string');
        expect(canon(variant(v, prng(seed)))).toBe(reference);
      }),
      fcOptions(400),
    );
  });

  it('is invariant under JSON.stringify indentation', () => {
    fc.assert(
      fc.property(jsonValue, fc.integer({ min: 0, max: 10 }), (v, n) => {
        expect(canon(JSON.stringify(v, null, n))).toBe(canon(JSON.stringify(v)));
        expect(canon(`\r\n\t ${JSON.stringify(v, null, '\t')} \n`)).toBe(canon(JSON.stringify(v)));
      }),
      fcOptions(200),
    );
  });

  it('parses back (JSON.parse) to the same value as the input', () => {
    fc.assert(
      fc.property(fc.oneof(jsonValue, unicodeJson), fc.integer(), (v, seed) => {
        const text = variant(v, prng(seed));
        const canonical = canon(text);
        expect(canonical).toBeTypeOf('string');
        expect(JSON.parse(canonical!)).toStrictEqual(JSON.parse(text));
      }),
      fcOptions(300),
    );
  });

  it('is a fixed point: canonical text canonicalizes to itself', () => {
    fc.assert(
      fc.property(fc.oneof(jsonValue, unicodeJson), (v) => {
        const c = canon(JSON.stringify(v))!;
        expect(canon(c)).toBe(c);
      }),
      fcOptions(200),
    );
  });

  it('is sensitive to array order', () => {
    fc.assert(
      fc.property(
        fc.array(jsonValue, { minLength: 2, maxLength: 6 }),
        fc.nat(),
        fc.nat(),
        (a, i, j) => {
          const x = i % a.length;
          const y = j % a.length;
          fc.pre(canon(JSON.stringify(a[x])) !== canon(JSON.stringify(a[y])));
          const swapped = [...a];
          [swapped[x], swapped[y]] = [a[y]!, a[x]!];
          expect(canon(JSON.stringify(swapped))).not.toBe(canon(JSON.stringify(a)));
        },
      ),
      fcOptions(200),
    );
  });

  it('tells apart values that differ (canonical text is injective on JSON.parse results)', () => {
    fc.assert(
      fc.property(jsonValue, jsonValue, (a, b) => {
        const [ca, cb] = [canon(JSON.stringify(a)), canon(JSON.stringify(b))];
        if (ca === cb)
          expect(JSON.parse(JSON.stringify(a))).toStrictEqual(JSON.parse(JSON.stringify(b)));
      }),
      fcOptions(200),
    );
  });

  it('never throws on arbitrary text, and returns a string or undefined', () => {
    const jsonish = fc.string({
      unit: fc.constantFrom(...'{}[]",:\\ 01-9.eE+tuflsn\u0000\u00e9\ud800'.split('')),
      maxLength: 40,
    });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), jsonish), (text) => {
        const out = canon(text);
        expect(out === undefined || typeof out === 'string').toBe(true);
        // Whatever it accepts is JSON: JSON.parse agrees.
        if (out !== undefined) expect(() => JSON.parse(text)).not.toThrow();
      }),
      fcOptions(1_000),
    );
  });

  it('accepts exactly what JSON.parse accepts (within the depth limit)', () => {
    const jsonish = fc.string({
      unit: fc.constantFrom(...'{}[]",:\\ 019-.eE+trufalsn'.split('')),
      maxLength: 20,
    });
    fc.assert(
      fc.property(jsonish, (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        expect(canon(text) !== undefined).toBe(parses);
      }),
      fcOptions(2_000),
    );
  });
});

describe('canonicalizeJsonText: examples', () => {
  it('sorts keys by UTF-16 code units and drops whitespace', () => {
    expect(canon(' { "b" : [1, 2] , "a":{"d":null,"c":true} }\n')).toBe(
      '{"a":{"c":true,"d":null},"b":[1,2]}',
    );
    // U+E000 sorts after U+1F600's high surrogate (0xD83D) in UTF-16 order.
    expect(canon('{"\ue000":1,"\ud83d\ude00":2}')).toBe('{"\ud83d\ude00":2,"\ue000":1}');
  });

  it('treats \\uXXXX escapes and literal characters alike', () => {
    expect(canon('"\\u00e9"')).toBe(canon('"é"'));
    expect(canon('"\\u00E9"')).toBe(canon('"é"'));
    expect(canon('{"\\u0061":"\\/"}')).toBe(canon('{"a":"/"}'));
    expect(canon('"\\ud83d\\ude00"')).toBe(canon('"😀"'));
    expect(canon('"\\n\\t"')).toBe(canon('"\\u000a\\u0009"'));
    // A lone surrogate is kept, and kept distinct.
    expect(canon('"\\ud800"')).not.toBe(canon('"\\ud801"'));
    expect(canon('"\\ud800"')).not.toBe(canon('"\ufffd"'));
  });

  it('compares numbers by exact decimal value', () => {
    const one = canon('1');
    for (const t of ['1.0', '10e-1', '1E0', '1e+0', '0.1e1', '1.000', '100e-2', '1e00']) {
      expect(canon(t), t).toBe(one);
    }
    expect(canon('12345678901234567890')).not.toBe(canon('12345678901234567891'));
    expect(canon('0.1')).not.toBe(canon('0.10000000000000001'));
    expect(canon('9007199254740993')).not.toBe(canon('9007199254740992'));
    for (const t of ['-0', '0.0', '-0.0e5', '0e-99', '0E+0']) expect(canon(t), t).toBe('0');
    expect(canon('-1')).not.toBe(canon('1'));
    expect(canon('1e1000')).toBe('1e1000');
    expect(canon('1e0000000000000000001')).toBe(canon('10'));
  });

  it('keeps the last of duplicated keys, as JSON.parse does', () => {
    expect(canon('{"a":1,"b":2,"a":3}')).toBe('{"a":3,"b":2}');
    expect(canon('{"a":1,"\\u0061":2}')).toBe('{"a":2}');
    expect(JSON.parse(canon('{"a":1,"b":2,"a":3}')!)).toEqual(JSON.parse('{"a":1,"b":2,"a":3}'));
  });

  it('returns undefined for text that is not JSON', () => {
    const bad = [
      '',
      ' ',
      '{',
      '}',
      '[1,]',
      '[,1]',
      '{"a":1,}',
      "{'a':1}",
      '{a:1}',
      '{"a" 1}',
      '{"a":}',
      '"abc',
      '"\u0001"',
      '"\\x"',
      '"\\u12G4"',
      '"\\u12"',
      '"\\',
      'NaN',
      'Infinity',
      '-Infinity',
      'undefined',
      '01',
      '-01',
      '1.',
      '.5',
      '+1',
      '1e',
      '1e+',
      '--1',
      '0x10',
      'tru',
      'nul',
      'truex',
      '[1] x',
      '1 2',
      '\u00a01',
      '1e1000000000000000000',
    ];
    for (const t of bad) expect(canon(t), JSON.stringify(t)).toBeUndefined();
  });

  it(`accepts ${MAX_DEPTH} levels of nesting and refuses ${MAX_DEPTH + 1}`, () => {
    const nest = (n: number, inner: string) => '['.repeat(n) + inner + ']'.repeat(n);
    const obj = (n: number) => `${'{"a":'.repeat(n - 1)}{}${'}'.repeat(n - 1)}`;
    expect(canon(nest(MAX_DEPTH, ''))).toBe(nest(MAX_DEPTH, ''));
    expect(canon(nest(MAX_DEPTH, '1'))).toBe(nest(MAX_DEPTH, '1'));
    expect(canon(nest(MAX_DEPTH + 1, ''))).toBeUndefined();
    expect(canon(nest(MAX_DEPTH + 1, '1'))).toBeUndefined();
    expect(canon(obj(MAX_DEPTH))).toBe(obj(MAX_DEPTH));
    expect(canon(obj(MAX_DEPTH + 1))).toBeUndefined();
    // Far deeper input fails cleanly instead of overflowing the stack.
    expect(canon(nest(100_000, ''))).toBeUndefined();
  });
});

describe('canonicalNumber', () => {
  it('normalises exactly: equal iff the exact decimal values are equal', () => {
    // A lexeme for (digits × 10^exp) written with a random decimal point position and exponent.
    const decimal = fc
      .record({
        digits: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        exp: fc.integer({ min: -40, max: 40 }),
        shift: fc.integer({ min: 0, max: 45 }),
      })
      .map(({ digits, exp, shift }) => {
        const sign = digits < 0n ? '-' : '';
        const abs = (digits < 0n ? -digits : digits).toString();
        // Move the point `shift` places left and compensate in the exponent.
        const padded = abs.padStart(shift + 1, '0');
        const cut = padded.length - shift;
        const mantissa = shift === 0 ? padded : `${padded.slice(0, cut)}.${padded.slice(cut)}`;
        return { lexeme: `${sign}${mantissa}e${exp + shift}`, digits, exp };
      });
    const exact = (d: bigint, e: number) => {
      if (d === 0n) return '0';
      let x = d;
      let k = e;
      while (x % 10n === 0n) {
        x /= 10n;
        k++;
      }
      return `${x}e${k}`;
    };
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        const same = exact(a.digits, a.exp) === exact(b.digits, b.exp);
        expect(canonicalNumber(a.lexeme) === canonicalNumber(b.lexeme)).toBe(same);
        expect(Number(canonicalNumber(a.lexeme))).toBe(
          Number(a.lexeme) === 0 ? 0 : Number(a.lexeme),
        );
      }),
      fcOptions(500),
    );
  });

  it('throws a TypeError for what is not a JSON number', () => {
    for (const t of ['', 'abc', '1.', '+1', '1e', '0x1', ' 1', '1e1000000000000000000']) {
      expect(() => canonicalNumber(t), t).toThrow(TypeError);
    }
  });
});

describe('canonicalizeValue', () => {
  it('equals the canonical text of the JSON encoding', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        expect(canonicalizeValue(v)).toBe(canon(JSON.stringify(v)));
      }),
      fcOptions(200),
    );
  });

  it('ignores key order and treats undefined as null', () => {
    expect(canonicalizeValue({ b: 1, a: [2, { d: 1, c: undefined }] })).toBe(
      canonicalizeValue({ a: [2, { d: 1 }], b: 1 }),
    );
    expect(canonicalizeValue(undefined)).toBe('null');
  });

  it('does not throw on a payload nested deeper than the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = [deep];
    const out = canonicalizeValue(deep);
    expect(out.startsWith('raw:')).toBe(true);
    expect(out).not.toBe(canonicalizeValue([deep]));
  });
});
