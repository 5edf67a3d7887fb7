import { fcParameters } from '@idem/conformance';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, parseHttpDate, parseRetryAfter } from './retry.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** A whole second between 1970 and 9999 (HTTP dates have no milliseconds). */
const instant = fc
  .integer({ min: 0, max: Math.floor(Date.UTC(9999, 11, 31) / 1000) })
  .map((s) => new Date(s * 1000));

/** The three HTTP-date forms of RFC 9110 §5.6.7 for one instant. */
function httpDates(d: Date) {
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  const day = d.getUTCDay();
  const month = MONTHS[d.getUTCMonth()]!;
  const date = d.getUTCDate();
  return {
    imf: `${DAYS[day]}, ${two(date)} ${month} ${d.getUTCFullYear()} ${time} GMT`,
    rfc850: `${LONG_DAYS[day]}, ${two(date)}-${month}-${two(d.getUTCFullYear() % 100)} ${time} GMT`,
    asctime: `${DAYS[day]} ${month} ${String(date).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`,
  };
}

describe('parseRetryAfter', () => {
  it('reads delay-seconds as that many seconds, leading zeros and surrounding spaces included', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 10 ** 9 }),
        fc.nat({ max: 3 }),
        fc.nat({ max: 3 }),
        (seconds, zeros, spaces) => {
          const text = `${' '.repeat(spaces)}${'0'.repeat(zeros)}${seconds}${' '.repeat(spaces)}`;
          expect(parseRetryAfter(text, Date.now())).toBe(seconds * 1000);
        },
      ),
      fcParameters(300),
    );
  });

  it('reads an IMF-fixdate as the time left until it, and a past date as 0', () => {
    fc.assert(
      fc.property(instant, instant, (at, now) => {
        const ms = parseRetryAfter(httpDates(at).imf, now.getTime());
        expect(ms).toBe(Math.max(0, at.getTime() - now.getTime()));
      }),
      fcParameters(500),
    );
  });

  it('reads the obsolete RFC 850 and asctime forms as the same instant', () => {
    fc.assert(
      fc.property(instant, (at) => {
        const { imf, rfc850, asctime } = httpDates(at);
        expect(parseHttpDate(imf, 0)).toBe(at.getTime());
        expect(parseHttpDate(asctime, 0)).toBe(at.getTime());
        // A two-digit year is read within 50 years of now (RFC 9110): check from the year itself.
        expect(parseHttpDate(rfc850, at.getTime())).toBe(at.getTime());
      }),
      fcParameters(500),
    );
  });

  it('ignores anything that is neither (then the client backs off on its own)', () => {
    const invalid = [
      '',
      '1.5',
      '-1',
      '1e3',
      '+5',
      '0x10',
      'soon',
      '5 s',
      'Wed, 21 Oct 2015 07:28:00', // no GMT
      'Wed, 21 Oct 2015 07:28:00 UTC',
      'Wed, 30 Feb 2015 07:28:00 GMT', // no such day
      'Wed, 21 Oct 2015 24:00:00 GMT',
      'Wed, 21 Foo 2015 07:28:00 GMT',
      'Wed, 21 Oct 15 07:28:00 GMT',
      '2015-10-21T07:28:00Z', // ISO 8601 is not an HTTP date
    ];
    for (const text of invalid) expect(parseRetryAfter(text, 0), text).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        const ms = parseRetryAfter(text, 0);
        // Whatever the input: undefined, or a non-negative finite delay from a valid form.
        if (ms === undefined) return;
        expect(Number.isFinite(ms) && ms >= 0).toBe(true);
        expect(/^\s*\d+\s*$/.test(text) || parseHttpDate(text.trim(), 0) !== undefined).toBe(true);
      }),
      fcParameters(1000),
    );
  });
});

describe('backoffDelay (full jitter)', () => {
  it('stays in [0, min(max, base * 2^(retry - 1))) for every retry, base, cap and draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.nat({ max: 60_000 }),
        fc.nat({ max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, base, max, random) => {
          const delay = backoffDelay(retry, base, max, random);
          const ceiling = base === 0 ? 0 : Math.min(max, base * 2 ** (retry - 1));
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(Number.isFinite(delay)).toBe(true);
          if (ceiling > 0) expect(delay).toBeLessThan(ceiling);
          else expect(delay).toBe(0);
        },
      ),
      fcParameters(1000),
    );
  });

  it('grows its ceiling exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 100, 1000, 0.999_999))).toEqual(
      [100, 200, 400, 800, 1000, 1000].map((c) => expect.closeTo(c * 0.999_999, 6)),
    );
  });
});
