// Selected for `#native-sha256` everywhere but Node (Workers, browsers, the
// default condition): no native hash, so bytes.ts hashes with Web Crypto and
// bundles carry no Node code.
import type { NativeHasher, Sha256Now } from './types.js';

/** None here: bytes.ts hashes with Web Crypto. */
export const nativeHasher: NativeHasher = undefined;

/** None here: Web Crypto's digest is asynchronous. */
export const sha256TextNow: Sha256Now = undefined;

/** None here: Web Crypto's digest is asynchronous. */
export const sha256Utf8Now: Sha256Now = undefined;
