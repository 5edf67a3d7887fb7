import type { StoredResponse } from '@idem/core/store';
import fc from 'fast-check';

const TCHAR = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";

/** A lower-case HTTP header name. */
export const headerName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('content-type', 'set-cookie', 'x-request-id', 'etag', 'location', 'vary'),
  fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 24 }),
);

/** A header value: visible ASCII, spaces, tabs and obs-text (Latin-1), as HTTP allows. */
export const headerValue: fc.Arbitrary<string> = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    fc.constantFrom('\t', 'é', 'ÿ', '\u0080'),
  ),
  maxLength: 80,
});

/** Header lists with repeated names (several `set-cookie` lines, say). */
export const headerList: fc.Arbitrary<Array<readonly [string, string]>> = fc.array(
  fc.tuple(headerName, headerValue),
  { maxLength: 12 },
);

/** Arbitrary bytes up to `maxLength`, with some structure (all zeros, all 0xff, every value). */
export function bodyBytes(maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: Math.min(maxLength, 4096) }) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 0, max: maxLength })
        .chain((n) =>
          fc
            .constantFrom(0x00, 0xff, -1)
            .map((fill) =>
              fill === -1
                ? new Uint8Array(n).map((_, i) => (i * 167 + 13) & 0xff)
                : new Uint8Array(n).fill(fill),
            ),
        ),
    },
  );
}

/** A response as an HTTP adapter would store it. */
export function storedResponse(maxBodyBytes: number): fc.Arbitrary<StoredResponse> {
  return fc.record({
    status: fc.integer({ min: 100, max: 599 }),
    headers: headerList,
    body: bodyBytes(maxBodyBytes),
  });
}

/**
 * Strings chosen to break naive key schemes: delimiters, separators, unicode
 * (astral, combining, lone surrogates), control characters and long runs.
 */
export const adversarialString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({
    unit: fc.constantFrom(':', '|', '/', '\\', '{', '}', '\u0000', '"', ' ', '%', '*', '\n'),
    maxLength: 12,
  }),
  fc.constantFrom('', ':', '::', 'a:b', 'idem1:', '\ud800', '\udc00', 'é', 'e\u0301', '🔑'),
  fc.integer({ min: 256, max: 10_000 }).map((n) => 'k'.repeat(n)),
);
