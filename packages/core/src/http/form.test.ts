import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFormData, encodeFormFields, isFormContentType } from './form.js';

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

  it('encodes a FormData of text fields as the form bytes a browser sends (property)', async () => {
    const unicode = fc.string({ unit: 'grapheme' });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(unicode, unicode), { maxLength: 8 }), async (fields) => {
        const form = new FormData();
        for (const [name, value] of fields) form.append(name, value);
        expect(text(await encodeFormData(form))).toBe(new URLSearchParams(fields).toString());
      }),
    );
  });

  it('encodes files with their bytes: the same form gives the same bytes, any change other bytes', async () => {
    type Entry = readonly [string, string | { bytes: string; name: string; type: string }];
    const encode = (entries: readonly Entry[]) => {
      const form = new FormData();
      for (const [name, value] of entries) {
        if (typeof value === 'string') form.append(name, value);
        else form.append(name, new File([value.bytes], value.name, { type: value.type }));
      }
      return encodeFormData(form).then(text);
    };
    const file = (bytes: string, name = 'a.txt', type = 'text/plain') => ({ bytes, name, type });
    const forms: Entry[][] = [
      [
        ['note', 'hi'],
        ['upload', file('one')],
      ],
      [
        ['note', 'hi'],
        ['upload', file('two')],
      ],
      [
        ['note', 'hi'],
        ['upload', file('one', 'b.txt')],
      ],
      [
        ['note', 'hi'],
        ['upload', file('one', 'a.txt', 'text/csv')],
      ],
      [
        ['upload', file('one')],
        ['note', 'hi'],
      ],
      [
        ['note', 'hi'],
        ['upload', 'one'],
      ],
      // A file and a text field swapped, with all else equal.
      [
        ['a', file('')],
        ['b', '0'],
      ],
      [
        ['a', '0'],
        ['b', file('')],
      ],
      [
        ['a', file('xy')],
        ['b', file('')],
      ],
      [
        ['a', file('x')],
        ['b', file('y')],
      ],
    ];
    const encoded = await Promise.all(forms.map(encode));
    expect(new Set(encoded).size).toBe(forms.length);
    expect(await Promise.all(forms.map(encode))).toEqual(encoded);
  });
});
