import { concatBytes, sha256, toBase64Url, u32, utf16Bytes } from './bytes.js';

/** Prefix of every store key idem derives; bump the version if the derivation changes. */
export const STORE_KEY_PREFIX = 'idem1:';

/**
 * Derive the store key for a (scope, key) pair.
 *
 * The pair is encoded injectively (length-prefixed scope, then both as UTF-16
 * code units, so no delimiter can be injected and lone surrogates stay
 * distinct) and hashed with SHA-256. The result has a fixed length of 49
 * characters, whatever the inputs, and reveals neither the tenant nor the key
 * to whoever can read the store. Distinct pairs map to distinct store keys
 * unless SHA-256 collides.
 */
export async function scopedKey(scope: string, key: string): Promise<string> {
  const digest = await sha256(concatBytes([u32(scope.length), utf16Bytes(scope), utf16Bytes(key)]));
  return STORE_KEY_PREFIX + toBase64Url(digest);
}
