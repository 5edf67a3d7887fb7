import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../test/fc.js';
import { concatBytes, randomToken, sha256, toBase64Url, toHex, utf8, utf16Bytes } from './bytes.js';

// Node's Buffer and crypto are the oracle here; src itself must not use them.
const bytes = fc.uint8Array({ maxLength: 300 });
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
);

describe('bytes helpers against Node as an oracle', () => {
  it('toBase64Url matches Buffer base64url (unpadded)', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        expect(toBase64Url(b)).toBe(Buffer.from(b).toString('base64url'));
      }),
      fcOptions(500),
    );
    expect(toBase64Url(new Uint8Array(0))).toBe('');
    expect(toBase64Url(new Uint8Array([0xfb, 0xff]))).toBe('-_8');
  });

  it('toHex matches Buffer hex', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'));
      }),
      fcOptions(300),
    );
  });

  it('utf16Bytes is UTF-16LE code units, lone surrogates included, and injective', () => {
    fc.assert(
      fc.property(anyString, anyString, (s, t) => {
        const expected = Buffer.from(s, 'utf16le');
        expect(Buffer.from(utf16Bytes(s)).equals(expected)).toBe(true);
        if (s !== t)
          expect(Buffer.from(utf16Bytes(s)).equals(Buffer.from(utf16Bytes(t)))).toBe(false);
      }),
      fcOptions(300),
    );
    expect([...utf16Bytes('\ud800')]).toEqual([0x00, 0xd8]);
  });

  it('utf8 matches Buffer utf8 (lone surrogates become U+FFFD)', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        expect(Buffer.from(utf8(s)).equals(Buffer.from(s, 'utf8'))).toBe(true);
      }),
      fcOptions(300),
    );
  });

  it('concatBytes matches Buffer.concat', () => {
    fc.assert(
      fc.property(fc.array(bytes, { maxLength: 5 }), (parts) => {
        expect(Buffer.from(concatBytes(parts)).equals(Buffer.concat(parts))).toBe(true);
      }),
      fcOptions(200),
    );
  });

  it('sha256 matches node:crypto, whole and on a view into a larger buffer', async () => {
    await fc.assert(
      fc.asyncProperty(bytes, fc.nat(10), async (b, offset) => {
        const expected = createHash('sha256').update(b).digest('hex');
        expect(toHex(await sha256(b))).toBe(expected);
        const host = new Uint8Array(b.length + offset + 3);
        host.set(b, offset);
        expect(toHex(await sha256(host.subarray(offset, offset + b.length)))).toBe(expected);
      }),
      fcOptions(100),
    );
  });

  it('randomToken is unique per call, behind a random per-process prefix', () => {
    const tokens = new Set(Array.from({ length: 10_000 }, () => randomToken()));
    expect(tokens.size).toBe(10_000);
    const [first] = tokens;
    expect(first).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.[0-9a-z]+$/,
    );
  });
});
