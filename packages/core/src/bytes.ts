// Web-platform byte helpers: no Node built-ins, so core runs on edge runtimes.
// Node's synchronous hash comes from `#native-sha256`, which package.json's
// `imports` maps by condition: node.ts under `node`, web.ts (nothing) elsewhere.
import {
  nativeHasher,
  sha256TextNow as nativeTextNow,
  sha256Utf8Now as nativeUtf8Now,
} from '#native-sha256';
import type { Sha256Now } from './native-sha256/types.js';

const encoder = new TextEncoder();

/** UTF-8 encode a string. Lone surrogates become U+FFFD, so never use this for identity. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Concatenate byte arrays; a single part is returned as it is, not copied. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/**
 * SHA-256 of one string's UTF-16LE code units, computed synchronously where
 * the runtime allows (Node), so a request spends no await on it; `undefined`
 * elsewhere (use {@link sha256Hasher}). Gives the same digest as
 * `sha256Hasher().update(text)`.
 */
export const sha256TextNow: Sha256Now = nativeTextNow;

/** SHA-256 of a string's UTF-8 bytes, synchronous where the runtime allows (Node); else `undefined`. */
export const sha256Utf8Now: Sha256Now = nativeUtf8Now;

/** SHA-256 with Web Crypto. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return new Uint8Array(digest);
}

/**
 * An incremental SHA-256 over strings and bytes. A string is hashed as its
 * UTF-16 code units, little-endian: an injective encoding of every JS string,
 * lone surrogates included (UTF-8 would turn those into U+FFFD).
 */
export interface Sha256 {
  /** Add a part; strings as UTF-16LE code units, bytes as they are. */
  update(part: string | Uint8Array): Sha256;
  /** The digest as 64 lower-case hex characters. */
  hex(): Promise<string>;
  /** The digest as 43 unpadded base64url characters. */
  base64url(): Promise<string>;
}

/** Start an incremental SHA-256: on Node's native hash where there is one, Web Crypto elsewhere. */
export function sha256Hasher(): Sha256 {
  if (nativeHasher) return nativeHasher();
  const parts: Uint8Array[] = [];
  const digest = () => sha256(concatBytes(parts));
  const hasher: Sha256 = {
    update(part) {
      parts.push(typeof part === 'string' ? utf16Bytes(part) : part);
      return hasher;
    },
    hex: async () => toHex(await digest()),
    base64url: async () => toBase64Url(await digest()),
  };
  return hasher;
}

// Only Web Crypto's 32-byte digests pass through these (Node's native hash
// encodes its own): the shortest code wins over the fastest.

/** Lower-case hex encoding. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Unpadded base64url encoding. */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Encode a string's UTF-16 code units as bytes (little-endian, as Node's
 * `'utf16le'`). Unlike UTF-8 this is injective for every JS string, lone
 * surrogates included.
 */
export function utf16Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >> 8;
  }
  return out;
}

let tokenPrefix: string | undefined;
let tokenCount = 0;

/**
 * A fresh owner token: a random per-process prefix (a UUID from Web Crypto,
 * drawn on first use, as Workers forbid randomness at start-up) and a
 * counter. Unique per claim, which is all fencing needs (tokens never leave
 * the server), without a call into the platform's random source per request.
 */
export function randomToken(): string {
  tokenPrefix ??= globalThis.crypto.randomUUID();
  return `${tokenPrefix}.${(tokenCount++).toString(36)}`;
}
