/**
 * idem against a peer on the same framework, store and phase, pass by pass:
 * the verdicts of the targets table, which noise on a shared machine cannot
 * flip (an interval that straddles 1 is a tie, whatever its point estimate).
 */
import {
  FRAMEWORKS,
  type Framework,
  isOurs,
  type Library,
  STORES,
  type StoreKind,
} from './config.js';
import type { Phase, Results, Row, Settings } from './results.js';
import {
  CONFIDENCE,
  combineStandings,
  logRatioInterval,
  type RatioInterval,
  type Standing,
  standingOf,
} from './stats.js';

/** What a row (or the bare framework) measured in each pass. */
export interface PerPassFigures {
  /** Pass numbers (0-based) of the entries below; absent in older results, where entry i is pass i. */
  readonly passes?: readonly number[];
  readonly passRps: readonly (number | null)[];
  /** Server CPU µs per request in each pass; absent in results from before it was recorded. */
  readonly passCpuMicrosPerRequest?: readonly (number | null)[];
}

/** A ratio's interval and what it says. */
export interface MeasureComparison extends RatioInterval {
  readonly standing: Standing;
  /** The per-pass ratios it rests on, in pass order. */
  readonly ratios: readonly number[];
}

/** idem against one peer. */
export interface PeerComparison {
  /** idem's req/s over the peer's, in the same pass: > 1 is idem faster. */
  readonly rps: MeasureComparison;
  /** The peer's server CPU µs per request over idem's, in the same pass: > 1 is idem cheaper. Absent when not recorded. */
  readonly cpu?: MeasureComparison;
  /** Both measures combined by {@link combineStandings}. */
  readonly standing: Standing;
}

const usable = (v: number | null | undefined): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Pass number → value, for the passes that produced a usable figure. */
function byPass(figures: PerPassFigures, values: readonly (number | null)[]): Map<number, number> {
  const out = new Map<number, number>();
  values.forEach((v, i) => {
    if (usable(v)) out.set(figures.passes?.[i] ?? i, v);
  });
  return out;
}

/**
 * `numerator[p] / denominator[p]` for every pass p both measured, in pass
 * order: the pairing that cancels what the machine did to that pass.
 */
export function pairedRatios(
  numerator: ReadonlyMap<number, number>,
  denominator: ReadonlyMap<number, number>,
): number[] {
  return [...numerator.keys()]
    .filter((p) => denominator.has(p))
    .sort((a, b) => a - b)
    .map((p) => numerator.get(p)! / denominator.get(p)!);
}

function measure(ratios: number[], confidence: number): MeasureComparison {
  const interval = logRatioInterval(ratios, confidence);
  return { ...interval, standing: standingOf(interval), ratios };
}

/**
 * idem (`ours`) against a peer (`theirs`) on req/s and on server CPU per
 * request, each an interval over the passes both ran (Student's t on the
 * log ratios, {@link logRatioInterval}); the overall standing combines
 * the two ({@link combineStandings}). Without per-pass CPU (older
 * results) the req/s standing decides alone.
 */
export function comparePeer(
  ours: PerPassFigures,
  theirs: PerPassFigures,
  confidence: number = CONFIDENCE,
): PeerComparison {
  const rps = measure(
    pairedRatios(byPass(ours, ours.passRps), byPass(theirs, theirs.passRps)),
    confidence,
  );
  if (!ours.passCpuMicrosPerRequest || !theirs.passCpuMicrosPerRequest) {
    return { rps, standing: rps.standing };
  }
  const cpu = measure(
    pairedRatios(
      byPass(theirs, theirs.passCpuMicrosPerRequest),
      byPass(ours, ours.passCpuMicrosPerRequest),
    ),
    confidence,
  );
  return { rps, cpu, standing: combineStandings(rps.standing, cpu.standing) };
}

/** One peer comparison of a run: idem's row and the peer's on the same framework, store and phase. */
export interface PeerCase {
  readonly framework: Framework;
  readonly store: StoreKind;
  readonly peer: Library;
  readonly phase: Phase;
  readonly ours: Row;
  readonly theirs: Row;
  readonly comparison: PeerComparison;
}

/**
 * Every peer comparison of a run, by framework, store, peer and phase. idem
 * is the `idem` row as the READMEs show it: the replay cache row is idem
 * too, never a peer, and never stands in for it.
 */
export function peerComparisons(
  results: Pick<Results, 'rows'> & { settings: Pick<Settings, 'confidence'> },
): PeerCase[] {
  const out: PeerCase[] = [];
  const confidence = results.settings.confidence ?? CONFIDENCE;
  const find = (framework: Framework, store: StoreKind, library: Library, phase: Phase) =>
    results.rows.find(
      (r) =>
        r.unit.framework === framework &&
        r.unit.store === store &&
        r.unit.library === library &&
        r.phase === phase,
    );
  for (const framework of FRAMEWORKS) {
    for (const store of STORES) {
      const peers = [
        ...new Set(
          results.rows
            .filter(
              (r) =>
                r.unit.framework === framework && r.unit.store === store && !isOurs(r.unit.library),
            )
            .map((r) => r.unit.library),
        ),
      ];
      for (const peer of peers) {
        for (const phase of ['fresh', 'replay'] as const) {
          const ours = find(framework, store, 'idem', phase);
          const theirs = find(framework, store, peer, phase);
          if (!ours || !theirs) continue;
          out.push({
            framework,
            store,
            peer,
            phase,
            ours,
            theirs,
            comparison: comparePeer(ours, theirs, confidence),
          });
        }
      }
    }
  }
  return out;
}

/** `1.12 [0.98, 1.27]`: a ratio's estimate and interval, 3 decimals below 0.1; `—` without figures. */
export function intervalText(m: Pick<RatioInterval, 'estimate' | 'low' | 'high' | 'n'>): string {
  const f = (n: number) => (n < 0.1 ? n.toFixed(3) : n.toFixed(2));
  if (!Number.isFinite(m.estimate)) return '—';
  if (m.n < 2) return `${f(m.estimate)} [one pass: no interval]`;
  return `${f(m.estimate)} [${f(m.low)}, ${f(m.high)}]`;
}
