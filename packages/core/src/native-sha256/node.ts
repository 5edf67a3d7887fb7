// Selected for `#native-sha256` by the `node` import condition (Node, Deno,
// Bun, and bundles for them): Workers and browsers never load this file.
import { Buffer } from 'node:buffer';
import * as crypto from 'node:crypto';
import type { Sha256 } from '../bytes.js';
import type { NativeHasher, Sha256Now } from './types.js';

/** One-shot hashing (Node >= 20.12): no Hash object per call; a string is hashed as UTF-8. */
const oneShot = (
  crypto as {
    hash?: (algorithm: string, data: Uint8Array | string, encoding: 'hex' | 'base64url') => string;
  }
).hash;

/**
 * An incremental SHA-256 on Node's synchronous hash. Web Crypto's `digest`
 * runs on Node's thread pool: every call costs a trip through the event
 * loop, which halved idem's throughput under load. The parts go straight
 * into the hash, with no intermediate byte arrays: each small typed array
 * costs an off-heap allocation, which showed in per-request profiles.
 */
export const nativeHasher: NativeHasher = () => {
  const hash = crypto.createHash('sha256');
  const hasher: Sha256 = {
    update(part) {
      if (typeof part === 'string') hash.update(part, 'utf16le');
      else hash.update(part);
      return hasher;
    },
    hex: async () => hash.digest('hex'),
    base64url: async () => hash.digest('base64url'),
  };
  return hasher;
};

/** SHA-256 of a string's UTF-16LE code units, synchronously. */
export const sha256TextNow: Sha256Now = oneShot
  ? (text, encoding) => oneShot('sha256', Buffer.from(text, 'utf16le'), encoding)
  : (text, encoding) => crypto.createHash('sha256').update(text, 'utf16le').digest(encoding);

/** SHA-256 of a string's UTF-8 bytes, synchronously. */
export const sha256Utf8Now: Sha256Now = oneShot
  ? (text, encoding) => oneShot('sha256', text, encoding)
  : (text, encoding) => crypto.createHash('sha256').update(text, 'utf8').digest(encoding);
