import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comparePeer, pairedRatios } from '../src/compare.ts';

describe('comparePeer', () => {
  it('puts idem first on req/s and the peer first on CPU, so above 1 favours idem on both', () => {
    const c = comparePeer(
      { passRps: [1000, 1100, 900], passCpuMicrosPerRequest: [50, 55, 45] },
      { passRps: [500, 550, 450], passCpuMicrosPerRequest: [100, 110, 90] },
    );
    expect(c.rps.estimate).toBeCloseTo(2, 12);
    expect(c.cpu?.estimate).toBeCloseTo(2, 12);
    expect(c.rps.ratios).toEqual([2, 2, 2]);
    expect(c.standing).toBe('ahead');
  });

  it('judges req/s alone when CPU per pass was not recorded', () => {
    const c = comparePeer({ passRps: [900, 1000, 1100] }, { passRps: [1000, 1000, 1000] });
    expect(c.cpu).toBeUndefined();
    expect(c.rps.standing).toBe('tie');
    expect(c.standing).toBe('tie');
  });

  it('swapping idem and the peer inverts every standing', () => {
    const side = fc.record({
      rps: fc.array(fc.double({ min: 10, max: 1e5, noNaN: true }), { minLength: 6, maxLength: 6 }),
      cpu: fc.array(fc.double({ min: 1, max: 1e4, noNaN: true }), { minLength: 6, maxLength: 6 }),
    });
    const invert = { ahead: 'behind', behind: 'ahead', tie: 'tie' } as const;
    fc.assert(
      fc.property(side, side, (a, b) => {
        const figures = (s: typeof a) => ({ passRps: s.rps, passCpuMicrosPerRequest: s.cpu });
        const ab = comparePeer(figures(a), figures(b));
        const ba = comparePeer(figures(b), figures(a));
        expect(ba.rps.standing).toBe(invert[ab.rps.standing]);
        expect(ba.cpu?.standing).toBe(invert[ab.cpu!.standing]);
        expect(ba.standing).toBe(invert[ab.standing]);
      }),
    );
  });
});

describe('pairedRatios', () => {
  it('pairs the passes both sides ran, in pass order', () => {
    const a = new Map([
      [3, 30],
      [0, 10],
      [1, 20],
    ]);
    const b = new Map([
      [0, 5],
      [3, 10],
      [2, 1],
    ]);
    expect(pairedRatios(a, b)).toEqual([2, 3]);
  });
});
