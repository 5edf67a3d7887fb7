/** Median of finite values (mean of the middle two for an even count); NaN when there are none. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Value at quantile q (0..1) of already sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * The confidence level of every interval the bench reports.
 * @default 0.95
 */
export const CONFIDENCE = 0.95;

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  // The continued fraction converges fast below the mean; above it, use the symmetry.
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const front = Math.exp(
    lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x),
  );
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = Math.abs(d) < tiny ? tiny : d;
  d = 1 / d;
  f = d;
  for (let m = 1; m <= 300; m++) {
    for (const numerator of [
      (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)),
      -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1)),
    ]) {
      d = 1 + numerator * d;
      d = Math.abs(d) < tiny ? tiny : d;
      c = 1 + numerator / c;
      c = Math.abs(c) < tiny ? tiny : c;
      d = 1 / d;
      f *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-15) break;
  }
  return (front * f) / a;
}

/** Student's t cumulative distribution function with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The p-quantile of Student's t with `df` degrees of freedom (p in (0, 1)),
 * by bisection on the CDF: `studentTQuantile(0.975, 5)` ≈ 2.5706, the
 * two-sided 95 % critical value for six samples.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return Number.NaN;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let low = 0;
  let high = 1;
  while (studentTCdf(high, df) < p) high *= 2;
  for (let i = 0; i < 200 && high - low > 1e-12 * high; i++) {
    const mid = (low + high) / 2;
    if (studentTCdf(mid, df) < p) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/** A ratio's point estimate and confidence interval. */
export interface RatioInterval {
  /** Geometric mean of the ratios. */
  readonly estimate: number;
  /** Bounds of the interval: 0 and Infinity when fewer than two ratios leave nothing to estimate spread from. */
  readonly low: number;
  readonly high: number;
  /** Ratios it rests on (finite and positive ones only). */
  readonly n: number;
}

/**
 * The confidence interval of the geometric mean of ratios: Student's t on
 * the mean of their logarithms, mapped back with exp. Ratios of throughput
 * or CPU are multiplicative (0.5 and 2 are the same distance from 1), so
 * their logarithms are the scale on which the t interval's symmetric, roughly
 * normal errors are a fair assumption; and t, unlike a bootstrap percentile
 * interval, widens for the few samples a bench run affords (a percentile
 * bootstrap of 6 values is too narrow and cannot reach past the extremes).
 * Non-finite and non-positive ratios (a pass that failed) are left out.
 * Deterministic: no seed.
 */
export function logRatioInterval(
  ratios: readonly (number | null | undefined)[],
  confidence: number = CONFIDENCE,
): RatioInterval {
  const logs = ratios
    .filter((r): r is number => typeof r === 'number' && Number.isFinite(r) && r > 0)
    .map(Math.log);
  const n = logs.length;
  if (n === 0) return { estimate: Number.NaN, low: 0, high: Number.POSITIVE_INFINITY, n };
  const mean = logs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { estimate: Math.exp(mean), low: 0, high: Number.POSITIVE_INFINITY, n };
  const variance = logs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  const half =
    (studentTQuantile(1 - (1 - confidence) / 2, n - 1) * Math.sqrt(variance)) / Math.sqrt(n);
  return { estimate: Math.exp(mean), low: Math.exp(mean - half), high: Math.exp(mean + half), n };
}

/** Where one side stands against the other on one measure, or overall. */
export type Standing = 'ahead' | 'tie' | 'behind';

/**
 * What an interval of "ours over theirs" ratios (> 1 is better for us)
 * says: ahead when even its low end is above 1, behind when even its high
 * end is below 1, a tie when it straddles 1 (the noise could flip it).
 */
export function standingOf(interval: Pick<RatioInterval, 'low' | 'high'>): Standing {
  if (interval.low > 1) return 'ahead';
  if (interval.high < 1) return 'behind';
  return 'tie';
}

/**
 * The overall standing from two measures (req/s and server CPU per
 * request): ahead when ahead on one and not behind on the other, behind
 * when behind on one and not ahead on the other, otherwise a tie (both
 * ties, or ahead on one and behind on the other).
 */
export function combineStandings(a: Standing, b: Standing): Standing {
  if ((a === 'ahead' && b !== 'behind') || (b === 'ahead' && a !== 'behind')) return 'ahead';
  if ((a === 'behind' && b !== 'ahead') || (b === 'behind' && a !== 'ahead')) return 'behind';
  return 'tie';
}

/** A seeded pseudo-random generator (mulberry32): the same seed, the same sequence, in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A shuffled copy (Fisher–Yates) drawing from `random`. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
