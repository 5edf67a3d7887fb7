import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  combineStandings,
  logRatioInterval,
  type Standing,
  seededRandom,
  shuffled,
  standingOf,
  studentTCdf,
  studentTQuantile,
} from '../src/stats.ts';

/** Per-pass ratios as a bench run produces them: a few, positive, within two orders of magnitude. */
const ratios = fc.array(fc.double({ min: 0.01, max: 100, noNaN: true }), {
  minLength: 2,
  maxLength: 12,
});
const STANDINGS: readonly Standing[] = ['ahead', 'tie', 'behind'];
const invert = (s: Standing): Standing =>
  s === 'ahead' ? 'behind' : s === 'behind' ? 'ahead' : 'tie';

describe("Student's t", () => {
  it('has the textbook two-sided 95 % and 99 % critical values', () => {
    // Any t table: df 1, 2, 5, 7, 30 at 0.975; df 10 at 0.995.
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062, 3);
    expect(studentTQuantile(0.975, 2)).toBeCloseTo(4.3027, 4);
    expect(studentTQuantile(0.975, 5)).toBeCloseTo(2.5706, 4);
    expect(studentTQuantile(0.975, 7)).toBeCloseTo(2.3646, 4);
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.0423, 4);
    expect(studentTQuantile(0.995, 10)).toBeCloseTo(3.1693, 4);
    expect(studentTQuantile(0.025, 5)).toBeCloseTo(-2.5706, 4);
  });

  it('has a CDF symmetric about 0 that its quantile inverts', () => {
    expect(studentTCdf(0, 4)).toBeCloseTo(0.5, 12);
    fc.assert(
      fc.property(
        fc.double({ min: 0.51, max: 0.999, noNaN: true }),
        fc.integer({ min: 1, max: 60 }),
        (p, df) => {
          const t = studentTQuantile(p, df);
          expect(studentTCdf(t, df)).toBeCloseTo(p, 8);
          expect(studentTCdf(-t, df)).toBeCloseTo(1 - p, 8);
        },
      ),
    );
  });
});

describe('logRatioInterval', () => {
  it('gives the geometric mean and the t interval of the log ratios', () => {
    // logs 0, ln 2, 2 ln 2: mean ln 2, sd ln 2, t(0.975, 2) = 4.3027.
    const wide = logRatioInterval([1, 2, 4]);
    expect(wide.estimate).toBeCloseTo(2, 12);
    expect(wide.low).toBeCloseTo(0.35746, 4);
    expect(wide.high).toBeCloseTo(11.19, 2);
    expect(wide.n).toBe(3);
    // Six passes, idem 5 to 25 % faster in each: ahead.
    const ahead = logRatioInterval([1.1, 1.2, 1.15, 1.05, 1.25, 1.1]);
    expect(ahead.estimate).toBeCloseTo(1.13971, 4);
    expect(ahead.low).toBeCloseTo(1.06563, 4);
    expect(ahead.high).toBeCloseTo(1.21894, 4);
    expect(standingOf(ahead)).toBe('ahead');
    const behind = logRatioInterval([0.8, 0.9, 0.85, 0.95, 0.9, 0.8]);
    expect(behind.low).toBeCloseTo(0.80371, 4);
    expect(behind.high).toBeCloseTo(0.93075, 4);
    expect(standingOf(behind)).toBe('behind');
  });

  it('leaves out failed passes, and has no interval below two passes', () => {
    expect(logRatioInterval([1, Number.NaN, 2, null, 4, 0, -1, Number.POSITIVE_INFINITY])).toEqual(
      logRatioInterval([1, 2, 4]),
    );
    const one = logRatioInterval([1.5]);
    expect(one).toEqual({ estimate: 1.5, low: 0, high: Number.POSITIVE_INFINITY, n: 1 });
    expect(standingOf(one)).toBe('tie');
    expect(logRatioInterval([]).n).toBe(0);
    expect(standingOf(logRatioInterval([]))).toBe('tie');
  });

  it('contains its point estimate', () => {
    fc.assert(
      fc.property(ratios, (r) => {
        const i = logRatioInterval(r);
        // Relative tolerance: exp(mean ± 0) can differ from exp(mean) in the last bit.
        expect(i.low).toBeLessThanOrEqual(i.estimate * (1 + 1e-12));
        expect(i.high).toBeGreaterThanOrEqual(i.estimate * (1 - 1e-12));
      }),
    );
  });

  it('inverts when the sides swap, and so does the verdict', () => {
    fc.assert(
      fc.property(ratios, (r) => {
        const ours = logRatioInterval(r);
        const theirs = logRatioInterval(r.map((x) => 1 / x));
        expect(theirs.estimate).toBeCloseTo(1 / ours.estimate, 9);
        expect(Math.log(theirs.low)).toBeCloseTo(-Math.log(ours.high), 9);
        expect(Math.log(theirs.high)).toBeCloseTo(-Math.log(ours.low), 9);
        expect(standingOf(theirs)).toBe(invert(standingOf(ours)));
      }),
    );
  });

  it('never narrows when the passes spread more', () => {
    fc.assert(
      fc.property(ratios, fc.double({ min: 1, max: 10, noNaN: true }), (r, k) => {
        // The same geometric mean, every pass k times as far from it (on the log scale).
        const logs = r.map(Math.log);
        const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
        const spread = logs.map((x) => Math.exp(mean + k * (x - mean)));
        const width = (i: { low: number; high: number }) => Math.log(i.high) - Math.log(i.low);
        expect(width(logRatioInterval(spread))).toBeGreaterThanOrEqual(
          width(logRatioInterval(r)) * (1 - 1e-9),
        );
      }),
    );
  });

  it('widens with the confidence asked for', () => {
    fc.assert(
      fc.property(ratios, (r) => {
        const at90 = logRatioInterval(r, 0.9);
        const at99 = logRatioInterval(r, 0.99);
        expect(at99.low).toBeLessThanOrEqual(at90.low * (1 + 1e-12));
        expect(at99.high).toBeGreaterThanOrEqual(at90.high * (1 - 1e-12));
      }),
    );
  });
});

describe('the verdict rule', () => {
  it('calls a measure a tie whenever its interval reaches 1', () => {
    expect(standingOf({ low: 1.01, high: 1.3 })).toBe('ahead');
    expect(standingOf({ low: 0.7, high: 0.99 })).toBe('behind');
    expect(standingOf({ low: 1, high: 1.3 })).toBe('tie');
    expect(standingOf({ low: 0.7, high: 1 })).toBe('tie');
    expect(standingOf({ low: 0.5, high: 2 })).toBe('tie');
  });

  it('combines req/s and CPU: ahead on one and not behind on the other, and the mirror', () => {
    const table: [Standing, Standing, Standing][] = [
      ['ahead', 'ahead', 'ahead'],
      ['ahead', 'tie', 'ahead'],
      ['tie', 'ahead', 'ahead'],
      ['tie', 'tie', 'tie'],
      ['ahead', 'behind', 'tie'],
      ['behind', 'ahead', 'tie'],
      ['behind', 'tie', 'behind'],
      ['tie', 'behind', 'behind'],
      ['behind', 'behind', 'behind'],
    ];
    for (const [rps, cpu, overall] of table) expect(combineStandings(rps, cpu)).toBe(overall);
  });

  it('is symmetric in its measures and inverts when the sides swap', () => {
    for (const a of STANDINGS) {
      for (const b of STANDINGS) {
        expect(combineStandings(a, b)).toBe(combineStandings(b, a));
        expect(combineStandings(invert(a), invert(b))).toBe(invert(combineStandings(a, b)));
      }
    }
  });
});

describe('the order of a pass', () => {
  it('is a permutation, the same for the same seed', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.nat(), (items, seed) => {
        const a = shuffled(items, seededRandom(seed));
        expect([...a].sort()).toEqual([...items].sort());
        expect(shuffled(items, seededRandom(seed))).toEqual(a);
      }),
    );
  });

  it('puts every item first about equally often', () => {
    const random = seededRandom(42);
    const firsts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) firsts[shuffled([0, 1, 2, 3], random)[0]!]!++;
    for (const n of firsts) expect(n).toBeGreaterThan(850);
  });
});
