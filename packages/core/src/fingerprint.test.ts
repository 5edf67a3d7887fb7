import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../test/fc.js';
import { canonicalQuery, type FingerprintInput, fingerprintRequest } from './fingerprint.js';

const enc = new TextEncoder();
const fp = (input: Partial<FingerprintInput>) =>
  fingerprintRequest({ method: 'POST', path: '/pay', ...input });
const json = (text: string, contentType = 'application/json') =>
  fp({ body: enc.encode(text), contentType });

describe('fingerprintRequest', () => {
  it('is 64 lower-case hex characters: a whole SHA-256, never truncated', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string(),
        fc.string(),
        fc.uint8Array({ maxLength: 64 }),
        async (p, q, b) => {
          expect(await fp({ path: p, query: q, body: b })).toMatch(/^[0-9a-f]{64}$/);
        },
      ),
      fcOptions(100),
    );
  });

  it('is stable across releases (known answer: stored fingerprints must keep matching)', async () => {
    // The documented layout: "idem-fp2:", then method, path and canonical
    // query, each as its length in UTF-16 code units, ":" and the text, then
    // "j" and the canonical JSON; all text as UTF-16LE code units.
    const expected = createHash('sha256')
      .update('idem-fp2:4:POST4:/pay7:a=1&b=2j{"a":1,"b":[2,3]}', 'utf16le')
      .digest('hex');
    expect(
      await fp({
        method: 'post',
        query: 'b=2&a=1',
        body: enc.encode('{ "b": [2, 3], "a": 1.0 }'),
        contentType: 'application/json',
      }),
    ).toBe(expected);
  });

  it('compares the method case-insensitively', async () => {
    expect(await fp({ method: 'post' })).toBe(await fp({ method: 'POST' }));
    expect(await fp({ method: 'Patch' })).toBe(await fp({ method: 'PATCH' }));
    expect(await fp({ method: 'PATCH' })).not.toBe(await fp({ method: 'POST' }));
  });

  it('changes with the path, the query and the body', async () => {
    const base = await fp({ query: 'a=1', body: enc.encode('x') });
    expect(await fp({ path: '/pay/', query: 'a=1', body: enc.encode('x') })).not.toBe(base);
    expect(await fp({ path: '/Pay', query: 'a=1', body: enc.encode('x') })).not.toBe(base);
    expect(await fp({ query: 'a=2', body: enc.encode('x') })).not.toBe(base);
    expect(await fp({ query: 'a=1', body: enc.encode('y') })).not.toBe(base);
    expect(await fp({ query: 'a=1' })).not.toBe(base);
  });

  it('ignores query parameter order but keeps the order of repeated names and raw values', async () => {
    expect(await fp({ query: 'a=1&b=2' })).toBe(await fp({ query: 'b=2&a=1' }));
    expect(await fp({ query: '?b=2&a=1' })).toBe(await fp({ query: 'a=1&b=2' }));
    expect(await fp({ query: 'a=1&a=2' })).not.toBe(await fp({ query: 'a=2&a=1' }));
    expect(await fp({ query: 'a=%20' })).not.toBe(await fp({ query: 'a=+' }));
    expect(await fp({ query: '' })).toBe(await fp({}));
  });

  it('canonicalizes JSON bodies (application/json and +json types) and only those', async () => {
    const a = '{"amount":100,"currency":"eur","items":[1,2]}';
    const b = ' {\n "items" : [1, 2], "currency":"\\u0065ur", "amount": 1e2 }';
    expect(await json(a)).toBe(await json(b));
    expect(await json(a, 'application/json; charset=utf-8')).toBe(await json(b));
    expect(await json(a, 'APPLICATION/JSON')).toBe(await json(b));
    expect(await json(a, 'application/problem+json')).toBe(
      await json(b, 'application/vnd.api+json'),
    );
    // Array order matters.
    expect(await json('{"items":[2,1]}')).not.toBe(await json('{"items":[1,2]}'));
    // Not JSON types: the bytes are compared as they are.
    for (const type of ['text/plain', 'application/jsonx', 'application/json-seq', 'text/json']) {
      expect(await json(a, type), type).not.toBe(await json(b, type));
    }
    expect(await fp({ body: enc.encode(a) })).not.toBe(await fp({ body: enc.encode(b) }));
  });

  it('hashes invalid JSON and invalid UTF-8 as raw bytes', async () => {
    const badUtf8 = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]);
    expect(await fp({ body: badUtf8, contentType: 'application/json' })).toBe(
      await fp({ body: badUtf8, contentType: 'application/octet-stream' }),
    );
    const notJson = enc.encode('{"a":1,}');
    expect(await fp({ body: notJson, contentType: 'application/json' })).toBe(
      await fp({ body: notJson }),
    );
    // …and a raw body never collides with a canonical one.
    expect(await json('{"a":1}')).not.toBe(await fp({ body: enc.encode('{"a":1}') }));
  });

  it('treats JSON key order, whitespace and escapes as the same request (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.jsonValue({ maxDepth: 3 }),
        fc.integer({ min: 0, max: 4 }),
        async (v, n) => {
          expect(await json(JSON.stringify(v, null, n))).toBe(await json(JSON.stringify(v)));
        },
      ),
      fcOptions(100),
    );
  });

  it('lets no field bleed into another (property)', async () => {
    // Small alphabets with the characters a naive concatenation would confuse.
    const part = fc.string({
      unit: fc.constantFrom('a', '/', '?', '&', '=', '\u0000', '\u0001', '\u0100', 'P'),
      maxLength: 6,
    });
    const request = fc.record({
      method: fc.constantFrom('POST', 'post', 'POSTa', 'P', 'PATCH'),
      path: part,
      query: part,
      body: part,
    });
    // What a fingerprint is meant to distinguish.
    const meaning = (r: { method: string; path: string; query: string; body: string }) =>
      JSON.stringify([r.method.toUpperCase(), r.path, canonicalQuery(r.query), r.body]);
    const hash = (r: { method: string; path: string; query: string; body: string }) =>
      fingerprintRequest({ ...r, body: enc.encode(r.body), contentType: 'text/plain' });
    await fc.assert(
      fc.asyncProperty(request, request, async (x, y) => {
        expect((await hash(x)) === (await hash(y))).toBe(meaning(x) === meaning(y));
      }),
      fcOptions(300),
    );
    // The same characters split differently between fields: always distinct.
    await fc.assert(
      fc.asyncProperty(part, fc.nat(), fc.nat(), async (s, a, b) => {
        const i = a % (s.length + 1);
        const j = b % (s.length + 1);
        fc.pre(i !== j);
        const split = (k: number) =>
          fingerprintRequest({
            method: 'POST',
            path: s.slice(0, k),
            query: '',
            body: enc.encode(s.slice(k)),
          });
        const pathQuery = (k: number) =>
          fingerprintRequest({
            method: 'POST',
            path: s.slice(0, k),
            query: s.slice(k).replaceAll('&', ''),
          });
        expect(await split(i)).not.toBe(await split(j));
        expect(await pathQuery(i)).not.toBe(await pathQuery(j));
      }),
      fcOptions(200),
    );
  });

  it('tells apart the classic bleeding examples', async () => {
    expect(await fp({ path: '/a', query: 'b' })).not.toBe(await fp({ path: '/ab' }));
    expect(await fp({ path: '/a', query: 'b' })).not.toBe(await fp({ path: '/a?b' }));
    expect(await fp({ method: 'POST', path: '/x' })).not.toBe(
      await fp({ method: 'POST/', path: 'x' }),
    );
    expect(await fp({ path: '/a', body: enc.encode('b') })).not.toBe(await fp({ path: '/ab' }));
    expect(await fp({ query: 'a', body: enc.encode('b') })).not.toBe(await fp({ query: 'ab' }));
    // Lone surrogates are not folded into U+FFFD.
    expect(await fp({ path: '/\ud800' })).not.toBe(await fp({ path: '/\ufffd' }));
  });
});

describe('canonicalQuery', () => {
  it('sorts by name, stably, drops empty segments and a leading ?', () => {
    expect(canonicalQuery('b=2&a=1&b=1')).toBe('a=1&b=2&b=1');
    expect(canonicalQuery('?&a=1&&b&')).toBe('a=1&b');
    expect(canonicalQuery('')).toBe('');
  });

  it('is invariant under any reordering of differently named parameters (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z]{1,4}$/), { minLength: 1, maxLength: 6 }),
        fc.array(fc.stringMatching(/^[a-z0-9%+]{0,4}$/), { minLength: 6, maxLength: 6 }),
        fc.array(fc.double({ noNaN: true }), { minLength: 6, maxLength: 6 }),
        (names, values, order) => {
          const params = names.map((n, i) => `${n}=${values[i]}`);
          // A random permutation: sort positions by random keys.
          const shuffled = params
            .map((p, i) => [order[i]!, p] as const)
            .sort((x, y) => x[0] - y[0])
            .map(([, p]) => p);
          expect(canonicalQuery(shuffled.join('&'))).toBe(canonicalQuery(params.join('&')));
        },
      ),
      fcOptions(200),
    );
  });
});
