/**
 * What a runtime's native SHA-256 offers (`#native-sha256`): Node's
 * synchronous hash under the `node` condition (node.ts), nothing elsewhere
 * (web.ts). Both files export the same names with these types.
 */
import type { Sha256 } from '../bytes.js';

/** An incremental SHA-256 on the native hash, or `undefined` where there is none. */
export type NativeHasher = (() => Sha256) | undefined;

/** A string's SHA-256, computed synchronously, in `encoding`; `undefined` where it cannot be. */
export type Sha256Now = ((text: string, encoding: 'hex' | 'base64url') => string) | undefined;
