import { fcParameters } from '@idem/conformance';
import { parseIdempotencyKey } from '@idem/core/http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkKey, chooseKey } from './key.js';

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const anyKey = fc.string({ unit: printable, minLength: 1, maxLength: 255 });
const options = { header: 'Idempotency-Key', generateKey: () => 'minted' };

describe('keys', () => {
  it('encodes every valid key so that the server reads back exactly that key', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        expect(parseIdempotencyKey(checkKey(key, 'key is'))).toEqual({ ok: true, key });
      }),
      fcParameters(2000),
    );
  });

  it('sends a key bare when it can be, so servers that do not unquote still see it as given', () => {
    expect(checkKey('6f1c-Order_42', 'key is')).toBe('6f1c-Order_42');
    expect(checkKey('order 42', 'key is')).toBe('"order 42"');
    expect(checkKey('"x', 'key is')).toBe('"\\"x"');
  });

  it('refuses keys the server would refuse, with the fix in the message', () => {
    for (const bad of ['', 'x'.repeat(256), 'café', 'a\tb', 'line\n', 42, undefined]) {
      expect(() => checkKey(bad, 'idempotency.key is')).toThrow(
        expect.objectContaining({
          code: 'KEY_INVALID',
          message: expect.stringContaining('1 to 255'),
        }),
      );
    }
  });

  it('takes the per-call key, else the header the caller set, else mints one', () => {
    const h1 = new Headers();
    expect(chooseKey(h1, options, undefined)).toBe('minted');
    expect(h1.get('idempotency-key')).toBe('minted');
    const h2 = new Headers({ 'Idempotency-Key': 'mine' });
    expect(chooseKey(h2, options, undefined)).toBe('mine');
    const h3 = new Headers();
    expect(chooseKey(h3, options, 'a b')).toBe('a b');
    expect(h3.get('idempotency-key')).toBe('"a b"');
    // The same key both ways is fine; two different keys are a mistake.
    expect(chooseKey(new Headers({ 'idempotency-key': 'k' }), options, 'k')).toBe('k');
    expect(() => chooseKey(new Headers({ 'idempotency-key': 'k' }), options, 'j')).toThrow(
      expect.objectContaining({ code: 'KEY_INVALID' }),
    );
    expect(() =>
      chooseKey(new Headers(), { ...options, generateKey: () => '' }, undefined),
    ).toThrow(
      expect.objectContaining({
        code: 'KEY_INVALID',
        message: expect.stringContaining('generateKey'),
      }),
    );
  });
});
