// Web-platform byte helpers: no Node built-ins, so core runs on edge runtimes.

const encoder = new TextEncoder();

/** UTF-8 encode a string. Lone surrogates become U+FFFD, so never use this for identity. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Concatenate byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
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

interface NodeHash {
  update(data: Uint8Array): NodeHash;
  digest(): Uint8Array;
}

/**
 * Node's synchronous `createHash`, when this runtime has one. Web Crypto's
 * `digest` runs on Node's thread pool: every call costs a trip through the
 * event loop, which halved idem's throughput under load. It is looked up
 * through `process.getBuiltinModule` (Node >= 20.16), not imported, so
 * bundles for edge runtimes contain no Node import and use Web Crypto.
 */
const nodeCreateHash: ((algorithm: 'sha256') => NodeHash) | undefined = (() => {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
      .process;
    const crypto = proc?.getBuiltinModule?.('crypto') as
      | { createHash?: (algorithm: string) => NodeHash }
      | undefined;
    return crypto?.createHash;
  } catch {
    return undefined;
  }
})();

/** SHA-256: Node's native hash where there is one, Web Crypto everywhere else. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  if (nodeCreateHash) return nodeCreateHash('sha256').update(data).digest();
  const digest = await globalThis.crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return new Uint8Array(digest);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex encoding. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b];
  return out;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Unpadded base64url encoding. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/**
 * Encode a string's UTF-16 code units as bytes (big-endian). Unlike UTF-8 this
 * is injective for every JS string, lone surrogates included.
 */
export function utf16Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[2 * i] = c >> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

/** Four-byte big-endian length prefix. */
export function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** A random owner token (UUID v4) from Web Crypto. */
export function randomToken(): string {
  return globalThis.crypto.randomUUID();
}
