import { sha256Hasher, sha256TextNow } from './bytes.js';
import { canonicalizeJsonText } from './canonical-json.js';

/** What an HTTP request asks for, as far as its fingerprint is concerned. */
export interface FingerprintInput {
  /** HTTP method; compared case-insensitively. */
  readonly method: string;
  /** The request path, without the query (`/payments/42`). */
  readonly path: string;
  /** The raw query string without `?` (`a=1&b=2`); parameter order does not matter. */
  readonly query?: string;
  /** The request body bytes as the client sent them. */
  readonly body?: Uint8Array;
  /** The request's `Content-Type`; JSON types (`application/json`, `*+json`) are canonicalized. */
  readonly contentType?: string | null;
  /**
   * JSON Pointers of body members that do not count (a timestamp, a trace
   * id): left out of a JSON body before it is hashed. No effect on other bodies.
   */
  readonly omit?: ReadonlySet<string>;
  /** Request headers that count too (an API version, say), as name and value (`null` when absent). */
  readonly headers?: ReadonlyArray<readonly [name: string, value: string | null]>;
}

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;
const decoder = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);

/**
 * SHA-256 fingerprint (64 hex characters, never truncated) of method, path,
 * query and body (docs/SEMANTICS.md, Fingerprints). JSON bodies are canonicalized first so key order,
 * whitespace and escapes do not matter; every other body, and JSON that does
 * not parse, is hashed as raw bytes.
 *
 * The digest covers `idem-fp2:`, then method, path and canonical query, each
 * as its length in UTF-16 code units, `:` and the text (so no field can bleed
 * into the next), then, if headers were chosen, `h`, their count and each
 * name and value length-prefixed, then `j` and the canonical JSON text, or
 * `r` and the raw body bytes. Text is hashed as UTF-16LE code units.
 */
export async function fingerprintRequest(input: FingerprintInput): Promise<string> {
  const { text, raw } = fingerprintParts(input);
  if (raw === undefined) {
    return sha256TextNow?.(text, 'hex') ?? sha256Hasher().update(text).hex();
  }
  return sha256Hasher().update(text).update(raw).hex();
}

/**
 * {@link fingerprintRequest}, computed synchronously where the runtime
 * hashes synchronously (Node) and the body is JSON (the common case);
 * `undefined` otherwise.
 * @internal
 */
export function fingerprintNow(input: FingerprintInput): string | undefined {
  const { text, raw } = fingerprintParts(input);
  return raw === undefined ? sha256TextNow?.(text, 'hex') : undefined;
}

/** What is hashed: all of it as text (a JSON body), or text then the raw body bytes. */
function fingerprintParts(input: FingerprintInput): { text: string; raw: Uint8Array | undefined } {
  const body = input.body ?? EMPTY;
  const method = input.method.toUpperCase();
  const query = canonicalQuery(input.query ?? '');
  const { path } = input;
  let text = `idem-fp2:${method.length}:${method}${path.length}:${path}${query.length}:${query}`;
  // Chosen headers, when there are any, come before the body: their count,
  // then each name and value length-prefixed (`-` for an absent one, so
  // absent and empty differ). `h` cannot start a body (`r`, `j`), and without
  // chosen headers the digest is what it always was.
  const { headers } = input;
  if (headers && headers.length > 0) {
    text += `h${headers.length}:`;
    for (const [name, value] of headers) {
      const n = name.toLowerCase();
      text += `${n.length}:${n}${value === null ? '-' : `${value.length}:${value}`}`;
    }
  }
  const canonical =
    body.byteLength > 0 && input.contentType && JSON_TYPE.test(input.contentType)
      ? canonicalJson(body, input.omit)
      : undefined;
  return canonical === undefined
    ? { text: `${text}r`, raw: body.byteLength === 0 ? undefined : body }
    : { text: `${text}j${canonical}`, raw: undefined };
}

function canonicalJson(body: Uint8Array, omit?: ReadonlySet<string>): string | undefined {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return undefined;
  }
  return canonicalizeJsonText(text, omit);
}

/**
 * Query parameters sorted by name (stable, so repeated names keep their order);
 * empty segments dropped. Values are compared as sent, not decoded.
 */
export function canonicalQuery(query: string): string {
  const q = query.startsWith('?') ? query.slice(1) : query;
  if (q === '') return '';
  const parts = q.split('&').filter((p) => p !== '');
  const name = (p: string) => {
    const eq = p.indexOf('=');
    return eq === -1 ? p : p.slice(0, eq);
  };
  return parts
    .map((p, i) => [name(p), i, p] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]))
    .map((x) => x[2])
    .join('&');
}
