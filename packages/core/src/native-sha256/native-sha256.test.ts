import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// As core resolves it here: vitest runs with the `node` condition, as Node does.
import * as resolved from '#native-sha256';
import { fcOptions } from '../../test/fc.js';
import { toBase64Url, toHex, utf8, utf16Bytes } from '../bytes.js';
import * as node from './node.js';
import * as web from './web.js';

const webSha256 = async (bytes: Uint8Array) =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('', '\ud800', 'a\udc00b', 'é🔑'),
);

describe('#native-sha256', () => {
  it('is node.ts on Node: the synchronous hash is in use', () => {
    expect(resolved.nativeHasher).toBe(node.nativeHasher);
    expect(resolved.sha256TextNow).toBe(node.sha256TextNow);
    expect(resolved.sha256Utf8Now).toBe(node.sha256Utf8Now);
    expect(typeof node.nativeHasher).toBe('function');
  });

  it('web.ts offers nothing, so bytes.ts hashes with Web Crypto', () => {
    expect({ ...web }).toEqual({
      nativeHasher: undefined,
      sha256TextNow: undefined,
      sha256Utf8Now: undefined,
    });
  });

  it('node.ts hashes as Web Crypto does: text as UTF-16LE, lone surrogates included, and as UTF-8', async () => {
    await fc.assert(
      fc.asyncProperty(anyString, async (text) => {
        const utf16 = await webSha256(utf16Bytes(text));
        expect(node.sha256TextNow!(text, 'hex')).toBe(toHex(utf16));
        expect(node.sha256TextNow!(text, 'base64url')).toBe(toBase64Url(utf16));
        const utf8Digest = await webSha256(utf8(text));
        expect(node.sha256Utf8Now!(text, 'hex')).toBe(toHex(utf8Digest));
        expect(node.sha256Utf8Now!(text, 'base64url')).toBe(toBase64Url(utf8Digest));
        // The incremental hash: strings as UTF-16LE, bytes as they are.
        const both = new Uint8Array([...utf16Bytes(text), ...utf8(text)]);
        const hasher = () => node.nativeHasher!().update(text).update(utf8(text));
        expect(await hasher().hex()).toBe(toHex(await webSha256(both)));
        expect(await hasher().base64url()).toBe(toBase64Url(await webSha256(both)));
      }),
      fcOptions(300),
    );
  });
});
