import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFormFields, isFormContentType } from './form.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('form bodies', () => {
  it('recognizes the form content type, with parameters and in any case', () => {
    expect(isFormContentType('application/x-www-form-urlencoded')).toBe(true);
    expect(isFormContentType('Application/X-WWW-Form-Urlencoded; charset=utf-8')).toBe(true);
    expect(isFormContentType('application/x-www-form-urlencodedx')).toBe(false);
    expect(isFormContentType('multipart/form-data')).toBe(false);
    expect(isFormContentType(null)).toBe(false);
  });

  it('rebuilds the exact bytes of a form encoded the standard way (property)', () => {
    const unicode = fc.string({ unit: 'grapheme' });
    fc.assert(
      fc.property(fc.array(fc.tuple(unicode, unicode), { maxLength: 8 }), (fields) => {
        const raw = new URLSearchParams(fields).toString();
        expect(text(encodeFormFields(new URLSearchParams(raw)))).toBe(raw);
      }),
    );
  });

  it('keeps field order, values and repeats', () => {
    expect(
      text(
        encodeFormFields([
          ['b', 'x y'],
          ['a', '1'],
          ['a', 'é'],
        ]),
      ),
    ).toBe('b=x+y&a=1&a=%C3%A9');
  });
});
