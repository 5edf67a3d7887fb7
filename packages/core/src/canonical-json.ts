/**
 * Canonical JSON for fingerprints: two JSON texts that mean the same value give
 * the same canonical string. Object key order and insignificant whitespace do
 * not matter; array order does; `\u00e9` and `é` are the same string; numbers
 * are compared by exact decimal value (`1`, `1.0` and `10e-1` are equal, while
 * `12345678901234567890` and `12345678901234567891` stay different, which
 * `JSON.parse` would lose); for duplicate object keys the last one wins, as in
 * `JSON.parse`.
 *
 * Returns `undefined` for text that is not JSON, or nests deeper than
 * {@link MAX_DEPTH}: callers then hash the raw bytes instead.
 *
 * @param omit JSON Pointers (RFC 6901: `/data/created`, `/items/0`) of
 *   members to leave out, as if they were not there, and array elements
 *   whose value does not count (their place does).
 */
export function canonicalizeJsonText(text: string, omit?: ReadonlySet<string>): string | undefined {
  const parser = new Parser(text, omit && omit.size > 0 ? omit : undefined);
  try {
    parser.skipWs();
    const value = parser.value(0, '');
    parser.skipWs();
    if (parser.pos !== text.length) return undefined;
    return value;
  } catch (e) {
    if (e === FAIL) return undefined;
    throw e;
  }
}

/** Deepest nesting canonicalized; deeper documents are fingerprinted as raw bytes. */
export const MAX_DEPTH = 256;

const FAIL = Symbol('not canonical JSON');

const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?/y;
// Surrogates are left out so that a run of plain characters is exactly its
// own canonical text (JSON.stringify escapes lone surrogates).
const PLAIN_STRING = /[^"\\\u0000-\u001f\ud800-\udfff]*/y;

/** The JSON Pointer token of an object key (RFC 6901: `~` is `~0`, `/` is `~1`). */
function pointerToken(key: string): string {
  return key.includes('~') || key.includes('/')
    ? key.replaceAll('~', '~0').replaceAll('/', '~1')
    : key;
}

class Parser {
  pos = 0;
  /** Pointers to leave out; paths are only tracked when there are some. */
  constructor(
    readonly text: string,
    readonly omit?: ReadonlySet<string>,
  ) {}

  skipWs(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  value(depth: number, path: string): string {
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b) return this.object(depth, path);
    if (c === 0x5b) return this.array(depth, path);
    if (c === 0x22) return this.quoted()[1];
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const lit of ['true', 'false', 'null']) {
      if (this.text.startsWith(lit, this.pos)) {
        this.pos += lit.length;
        return lit;
      }
    }
    throw FAIL;
  }

  // `depth` counts the containers around this one: the outermost is at 0, so
  // MAX_DEPTH levels of nesting are accepted whatever the innermost value is.
  object(depth: number, path: string): string {
    if (depth >= MAX_DEPTH) throw FAIL;
    this.pos++;
    this.skipWs();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return '{}';
    }
    // [decoded key, canonical key, canonical value], sorted below. Arrays, not
    // a Map: small objects are the common case and this runs per request.
    const members: Array<[string, string, string]> = [];
    for (;;) {
      this.skipWs();
      if (this.text.charCodeAt(this.pos) !== 0x22) throw FAIL;
      const [key, quotedKey] = this.quoted();
      this.skipWs();
      if (this.text.charCodeAt(this.pos) !== 0x3a) throw FAIL;
      this.pos++;
      this.skipWs();
      const child = this.omit ? `${path}/${pointerToken(key)}` : '';
      const value = this.value(depth + 1, child);
      if (this.omit?.has(child)) members.push([key, '', '']);
      else members.push([key, quotedKey, value]);
      this.skipWs();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x2c) continue;
      if (c === 0x7d) break;
      throw FAIL;
    }
    // Comparing strings compares UTF-16 code units, as RFC 8785 does. The sort
    // is stable, so a duplicated key's members stay in order: the last wins,
    // as in JSON.parse.
    if (members.length > 1) members.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let out = '{';
    for (let i = 0; i < members.length; i++) {
      const member = members[i]!;
      if (i + 1 < members.length && members[i + 1]![0] === member[0]) continue;
      if (member[1] === '') continue; // omitted
      if (out.length > 1) out += ',';
      out += `${member[1]}:${member[2]}`;
    }
    return `${out}}`;
  }

  array(depth: number, path: string): string {
    if (depth >= MAX_DEPTH) throw FAIL;
    this.pos++;
    this.skipWs();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return '[]';
    }
    let out = '[';
    for (let index = 0; ; index++) {
      this.skipWs();
      const child = this.omit ? `${path}/${index}` : '';
      const value = this.value(depth + 1, child);
      // An omitted element's value does not count; its place does, so later elements stay apart.
      out += this.omit?.has(child) ? '-' : value;
      this.skipWs();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x2c) {
        out += ',';
        continue;
      }
      if (c === 0x5d) break;
      throw FAIL;
    }
    return `${out}]`;
  }

  /** A string's value and its canonical text (most strings need no escaping: their own text). */
  quoted(): [string, string] {
    const t = this.text;
    const start = this.pos;
    PLAIN_STRING.lastIndex = start + 1;
    PLAIN_STRING.test(t);
    const end = PLAIN_STRING.lastIndex;
    if (t.charCodeAt(end) === 0x22) {
      this.pos = end + 1;
      return [t.slice(start + 1, end), t.slice(start, end + 1)];
    }
    const value = this.string();
    return [value, JSON.stringify(value)];
  }

  string(): string {
    const t = this.text;
    this.pos++;
    let out = '';
    for (;;) {
      PLAIN_STRING.lastIndex = this.pos;
      PLAIN_STRING.test(t);
      out += t.slice(this.pos, PLAIN_STRING.lastIndex);
      this.pos = PLAIN_STRING.lastIndex;
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) {
        this.pos++;
        return out;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        out += t[this.pos++];
        continue;
      }
      if (c !== 0x5c) throw FAIL; // control character or end of text
      const e = t[this.pos + 1]!;
      this.pos += 2;
      if (e === 'u') {
        const hex = t.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw FAIL;
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.pos += 4;
      } else {
        const char = ESCAPES[e];
        if (char === undefined) throw FAIL;
        out += char;
      }
    }
  }

  number(): string {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) throw FAIL;
    this.pos = NUMBER.lastIndex;
    const lexeme = m[0];
    // An integer that does not end in 0 (nor is -0) is already canonical.
    if (m[1] === undefined && m[2] === undefined && lexeme.charCodeAt(lexeme.length - 1) !== 0x30) {
      return lexeme;
    }
    const canonical = exactDecimal(lexeme);
    if (canonical === undefined) throw FAIL;
    return canonical;
  }
}

const WHOLE_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Exact decimal normal form of a JSON number lexeme: `[-]D` or `[-]De<exp>`
 * with no leading or trailing zeros in D. `-0` is `0`; `1`, `1.0`, `10e-1`
 * and `1E0` all give `1`.
 *
 * @throws TypeError when `lexeme` is not a JSON number, or its exponent has
 * more than 15 significant digits.
 */
export function canonicalNumber(lexeme: string): string {
  const canonical = WHOLE_NUMBER.test(lexeme) ? exactDecimal(lexeme) : undefined;
  if (canonical === undefined) {
    throw new TypeError(`idem: ${JSON.stringify(lexeme)} is not a JSON number idem can normalise.`);
  }
  return canonical;
}

/** {@link canonicalNumber} of a lexeme known to be a JSON number; `undefined` for a huge exponent. */
function exactDecimal(lexeme: string): string | undefined {
  const negative = lexeme.startsWith('-');
  const body = negative ? lexeme.slice(1) : lexeme;
  const eAt = body.search(/[eE]/);
  const mantissa = eAt === -1 ? body : body.slice(0, eAt);
  const expText = eAt === -1 ? '0' : body.slice(eAt + 1);
  const dot = mantissa.indexOf('.');
  const intPart = dot === -1 ? mantissa : mantissa.slice(0, dot);
  const fracPart = dot === -1 ? '' : mantissa.slice(dot + 1);
  const digits = (intPart + fracPart).replace(/^0+/, '');
  // Zero is zero whatever its sign and exponent (`-0`, `0.0e99`).
  if (digits.length === 0) return '0';
  // Exponents beyond what a double can count exactly are not worth normalising
  // (leading zeros do not count: `1e0001` is `10`).
  if (expText.replace(/^[+-]?0*/, '').length > 15) return undefined;
  let exp = Number(expText) - fracPart.length;
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  return `${negative ? '-' : ''}${trimmed}${exp === 0 ? '' : `e${exp}`}`;
}

/**
 * Canonical JSON of a JavaScript value (for fingerprinting queue messages or
 * job arguments): sorted object keys, numbers in the same exact form as
 * {@link canonicalizeJsonText}. Values JSON cannot hold (functions, symbols,
 * `undefined` members) are dropped as `JSON.stringify` drops them; `undefined`
 * itself gives `null`. A value nested deeper than {@link MAX_DEPTH} gives its
 * plain JSON text prefixed with `raw:` (still deterministic, never equal to a
 * canonical text).
 *
 * @throws TypeError from `JSON.stringify` for a `BigInt` or a cycle.
 */
export function canonicalizeValue(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return 'null';
  // Only nesting deeper than MAX_DEPTH fails here (JSON.stringify writes no
  // other non-canonicalizable text): fall back to that text, as request bodies
  // fall back to raw bytes, rather than throw on a valid payload. The prefix
  // keeps it apart from every canonical text.
  return canonicalizeJsonText(text) ?? `raw:${text}`;
}
