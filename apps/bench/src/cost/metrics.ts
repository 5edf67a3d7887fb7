/**
 * The cost tool's arithmetic, pure so test/cost.test.ts can check it: CPU
 * ticks from /proc, medians and ratios over passes, DynamoDB request units,
 * and the duplicate storm's summary.
 */
import { median } from '../stats.ts';
import type { CostComparison, CostFigures, CostSample } from './types.ts';

/** utime and stime of a process, in clock ticks, from the text of /proc/<pid>/stat. */
export interface ProcTicks {
  readonly utime: number;
  readonly stime: number;
}

/**
 * utime and stime (fields 14 and 15) of /proc/<pid>/stat. The command name
 * (field 2) is in parentheses and may hold spaces and parentheses itself, so
 * fields are counted from the last `)`.
 */
export function parseProcStat(text: string): ProcTicks {
  const end = text.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  // After ") ": field 3 (state) is index 0, so field n is index n - 3.
  const fields = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`no utime/stime in /proc/<pid>/stat: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { utime, stime };
}

/**
 * Clock ticks to microseconds.
 * @default clockTicks 100 (Linux's USER_HZ almost everywhere; `getconf CLK_TCK`)
 */
export function ticksToMicros(ticks: number, clockTicks = 100): number {
  return (ticks * 1e6) / clockTicks;
}

/** The CPU a process spent between two readings, in microseconds. */
export function cpuMicrosBetween(before: ProcTicks, after: ProcTicks, clockTicks = 100): number {
  return ticksToMicros(after.utime + after.stime - before.utime - before.stime, clockTicks);
}

/** Medians of one way's passes; total = app + db per pass, then the median. */
export function figures(passes: readonly CostSample[]): CostFigures {
  const optional = (pick: (s: CostSample) => number | undefined) => {
    const values = passes.map(pick).filter((v): v is number => v !== undefined);
    return values.length > 0 ? median(values) : undefined;
  };
  const roundTrips = optional((s) => s.roundTrips);
  const units = optional((s) => s.units);
  return {
    appUs: median(passes.map((s) => s.appUs)),
    dbUs: median(passes.map((s) => s.dbUs)),
    totalUs: median(passes.map((s) => s.appUs + s.dbUs)),
    ...(roundTrips === undefined ? {} : { roundTrips }),
    ...(units === undefined ? {} : { units }),
    passes,
  };
}

/** a / b, or NaN when b is 0 or either is not a number (a ratio to nothing means nothing). */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return Number.NaN;
  }
  return a / b;
}

/** Floor and idem side by side: medians and the ratio idem / floor of app + database CPU. */
export function compare(floor: readonly CostSample[], idem: readonly CostSample[]): CostComparison {
  const f = figures(floor);
  const i = figures(idem);
  const unitsRatio = f.units === undefined ? undefined : ratio(i.units, f.units);
  return {
    floor: f,
    idem: i,
    ratio: ratio(i.totalUs, f.totalUs),
    ...(unitsRatio === undefined ? {} : { unitsRatio }),
  };
}

/** Sum of samples (phases of one request: claim, then completion), per request. */
export function addSamples(samples: readonly CostSample[]): CostSample {
  const sumOf = (pick: (s: CostSample) => number | undefined) =>
    samples.some((s) => pick(s) !== undefined)
      ? samples.reduce((t, s) => t + (pick(s) ?? 0), 0)
      : undefined;
  const roundTrips = sumOf((s) => s.roundTrips);
  const units = sumOf((s) => s.units);
  return {
    appUs: samples.reduce((t, s) => t + s.appUs, 0),
    dbUs: samples.reduce((t, s) => t + s.dbUs, 0),
    ...(roundTrips === undefined ? {} : { roundTrips }),
    ...(units === undefined ? {} : { units }),
  };
}

// --- DynamoDB request units ------------------------------------------------------

/** A DynamoDB attribute value, as the low-level client has it. */
export type AttributeValue =
  | { readonly S: string }
  | { readonly N: string }
  | { readonly B: Uint8Array }
  | { readonly BOOL: boolean }
  | { readonly NULL: boolean }
  | { readonly SS: readonly string[] }
  | { readonly NS: readonly string[] }
  | { readonly BS: readonly Uint8Array[] }
  | { readonly L: readonly AttributeValue[] }
  | { readonly M: Readonly<Record<string, AttributeValue>> };

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** A number's size in DynamoDB: about one byte per two significant digits, plus one. */
function numberBytes(n: string): number {
  const digits = n.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '');
  const significant = digits.replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, significant.length) / 2) + 1;
}

/** One attribute value's size in bytes, by DynamoDB's item size rules. */
export function valueBytes(value: AttributeValue): number {
  if ('S' in value) return utf8Bytes(value.S);
  if ('N' in value) return numberBytes(value.N);
  if ('B' in value) return value.B.byteLength;
  if ('BOOL' in value || 'NULL' in value) return 1;
  if ('SS' in value) return value.SS.reduce((t, s) => t + utf8Bytes(s), 0);
  if ('NS' in value) return value.NS.reduce((t, n) => t + numberBytes(n), 0);
  if ('BS' in value) return value.BS.reduce((t, b) => t + b.byteLength, 0);
  // Lists and maps: 3 bytes, plus 1 per element, plus the elements.
  if ('L' in value) return 3 + value.L.reduce((t, v) => t + 1 + valueBytes(v), 0);
  return 3 + Object.entries(value.M).reduce((t, [k, v]) => t + 1 + utf8Bytes(k) + valueBytes(v), 0);
}

/** An item's size in bytes: attribute names (UTF-8) plus values. */
export function itemBytes(item: Readonly<Record<string, AttributeValue>>): number {
  return Object.entries(item).reduce((t, [k, v]) => t + utf8Bytes(k) + valueBytes(v), 0);
}

/** Write capacity units of a write of `bytes`: one per KB started, at least one. */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

/**
 * Read capacity units of a read of `bytes`: one per 4 KB started for a
 * strongly consistent read, half that for an eventually consistent one.
 */
export function readUnits(bytes: number, consistent: boolean): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

// --- the duplicate storm -------------------------------------------------------------

/** Duplicates' store calls per duplicate: every call but the executor's, over the duplicates. */
export function callsPerDuplicate(
  calls: Readonly<Record<string, number>>,
  executorCalls: Readonly<Record<string, number>>,
  duplicates: number,
): Record<string, number> & { total: number } {
  const out: Record<string, number> & { total: number } = { total: 0 };
  for (const [method, n] of Object.entries(calls)) {
    const each = duplicates > 0 ? (n - (executorCalls[method] ?? 0)) / duplicates : Number.NaN;
    out[method] = each;
    out.total += each;
  }
  return out;
}
