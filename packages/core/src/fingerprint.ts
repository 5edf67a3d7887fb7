import { concatBytes, sha256, toHex, u32, utf8, utf16Bytes } from './bytes.js';
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
}

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;
const decoder = new TextDecoder('utf-8', { fatal: true });
const VERSION = utf8('idem-fp1');
const KIND_RAW = new Uint8Array([0]);
const KIND_JSON = new Uint8Array([1]);

/**
 * SHA-256 fingerprint (64 hex characters, never truncated) of method, path,
 * query and body (SPEC §3). JSON bodies are canonicalized first so key order,
 * whitespace and escapes do not matter; every other body, and JSON that does
 * not parse, is hashed as raw bytes.
 */
export async function fingerprintRequest(input: FingerprintInput): Promise<string> {
  const body = input.body ?? new Uint8Array(0);
  let kind = KIND_RAW;
  let bodyBytes = body;
  if (body.byteLength > 0 && input.contentType && JSON_TYPE.test(input.contentType)) {
    const canonical = canonicalJsonBytes(body);
    if (canonical) {
      kind = KIND_JSON;
      bodyBytes = canonical;
    }
  }
  const field = (s: string) => {
    const b = utf16Bytes(s);
    return [u32(b.byteLength), b];
  };
  const digest = await sha256(
    concatBytes([
      VERSION,
      ...field(input.method.toUpperCase()),
      ...field(input.path),
      ...field(canonicalQuery(input.query ?? '')),
      kind,
      bodyBytes,
    ]),
  );
  return toHex(digest);
}

function canonicalJsonBytes(body: Uint8Array): Uint8Array | undefined {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return undefined;
  }
  const canonical = canonicalizeJsonText(text);
  return canonical === undefined ? undefined : utf8(canonical);
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
