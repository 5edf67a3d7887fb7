import { sha256Hasher, sha256TextNow } from './bytes.js';

/** Prefix of every store key idem derives; bump the version if the derivation changes. */
export const STORE_KEY_PREFIX = 'idem1:';

/**
 * Derive the store key for a (scope, key) pair.
 *
 * The pair is encoded injectively (the scope's length in UTF-16 code units,
 * `:`, the scope, the key, all hashed as UTF-16 code units, so no delimiter can
 * be injected and lone surrogates stay distinct) and hashed with SHA-256. The result has a fixed length of 49
 * characters, whatever the inputs, and reveals neither the tenant nor the key
 * to whoever can read the store. Distinct pairs map to distinct store keys
 * unless SHA-256 collides.
 */
export async function scopedKey(scope: string, key: string): Promise<string> {
  return (
    scopedKeyNow(scope, key) ??
    STORE_KEY_PREFIX + (await sha256Hasher().update(`${scope.length}:${scope}${key}`).base64url())
  );
}

/**
 * {@link scopedKey}, computed synchronously where the runtime hashes
 * synchronously (Node); `undefined` elsewhere.
 * @internal
 */
export function scopedKeyNow(scope: string, key: string): string | undefined {
  const digest = sha256TextNow?.(`${scope.length}:${scope}${key}`, 'base64url');
  return digest === undefined ? undefined : STORE_KEY_PREFIX + digest;
}
