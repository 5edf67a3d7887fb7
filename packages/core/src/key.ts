/** Longest idempotency key accepted, in characters (after unquoting). */
export const MAX_KEY_LENGTH = 255;

/**
 * What is wrong with a key, wherever it was read from (a header, a body, a
 * function), or `undefined`: a key holds 1 to {@link MAX_KEY_LENGTH}
 * printable ASCII characters. The one place these rules live.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (key.length > MAX_KEY_LENGTH) return `the key is longer than ${MAX_KEY_LENGTH} characters`;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return 'the key holds a character that is not printable ASCII';
  }
  return undefined;
}

/** Result of {@link parseIdempotencyKey}. */
export type ParsedKey =
  | { readonly ok: true; readonly key: string }
  | { readonly ok: false; readonly missing: true }
  | { readonly ok: false; readonly missing: false; readonly reason: string };

/**
 * Parse an `Idempotency-Key` header.
 *
 * Accepts an RFC 8941 sf-string (`"abc"`, with `\"` and `\\` escapes) or a bare
 * value (`abc`); both forms name the same key. The key must hold 1 to 255
 * printable ASCII characters. A bare key may not contain spaces or commas: a
 * comma is what two header lines look like once joined (`a, b`), and a second
 * header line is always rejected.
 *
 * @param header The header's value, or every header line separately when the
 * framework exposes them (Node's `rawHeaders`); `null`/`undefined` when absent.
 */
export function parseIdempotencyKey(
  header: string | readonly string[] | null | undefined,
): ParsedKey {
  if (header === null || header === undefined) return { ok: false, missing: true };
  let value: string;
  if (typeof header === 'string') {
    value = header;
  } else {
    if (header.length === 0) return { ok: false, missing: true };
    if (header.length > 1) return invalid('the header was sent more than once');
    value = header[0]!;
  }
  // Untyped callers (plain JavaScript, unusual frameworks) may hand over anything.
  if (typeof value !== 'string') return invalid('the header value is not a string');
  value = trimOws(value);
  if (value.length === 0) return invalid('the key is empty');
  const key = value.charCodeAt(0) === 0x22 ? unquote(value) : value;
  if (typeof key !== 'string') return key;
  const problem = keyProblem(key);
  if (problem !== undefined) return invalid(problem);
  if (value.charCodeAt(0) !== 0x22) {
    if (key.includes(',')) return invalid('the header was sent more than once (or holds a comma)');
    if (key.includes(' ')) return invalid('a bare key may not hold spaces; quote it as "..."');
  }
  return { ok: true, key };
}

// Strip optional whitespace (RFC 9110 OWS: spaces and tabs) from both ends. A
// loop, not /^[ \t]+|[ \t]+$/: that regex is quadratic on a long run of inner
// spaces, which a client controls.
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  const ows = (c: number) => c === 0x20 || c === 0x09;
  while (start < end && ows(value.charCodeAt(start))) start++;
  while (end > start && ows(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}

// RFC 8941 §3.1.2 parameters: `;` SP* key [ `=` bare-item ], where a bare item
// is an integer or decimal, an sf-string, a token, a byte sequence or a boolean.
const PARAM_VALUE = String.raw`(?:-?\d{1,15}(?:\.\d{1,3})?|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"|[A-Za-z*][!#$%&'*+\-.^_\x60|~:/\w]*|:[A-Za-z0-9+/=]*:|\?[01])`;
const PARAMETERS = new RegExp(String.raw`^(?:; *[a-z*][a-z0-9_\-.*]*(?:=${PARAM_VALUE})?)+$`);

function invalid(reason: string): ParsedKey {
  return { ok: false, missing: false, reason };
}

// RFC 8941 §4.2.5: parse an sf-string, which may be followed by parameters
// (§3.1.2: `"abc";v=1`). The draft defines the key as an sf-string Item, and
// Items may carry parameters: they are checked for syntax, then ignored.
function unquote(value: string): string | ParsedKey {
  let out = '';
  for (let i = 1; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\') {
      const next = value[i + 1];
      if (next !== '"' && next !== '\\') return invalid('a quoted key holds an invalid escape');
      out += next;
      i++;
    } else if (ch === '"') {
      if (i !== value.length - 1 && !PARAMETERS.test(value.slice(i + 1))) {
        return invalid('the header was sent more than once (or holds text after the quoted key)');
      }
      return out;
    } else {
      // Any other character is the key's; keyProblem judges it.
      out += ch;
    }
  }
  return invalid('a quoted key is missing its closing quote');
}
