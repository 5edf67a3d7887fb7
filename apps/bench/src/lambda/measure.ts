/**
 * Windows of invocations and what a row makes of them: the plan of a pass
 * (shuffled as the HTTP rows are), one window's figures, and a row's medians
 * and per-pass ratios for src/compare.ts.
 */
import { median, shuffled } from '../stats.ts';
import { addCounts, type StoreCount } from './counters.ts';
import type { Entry, LambdaLibrary, LambdaStore } from './libraries.ts';
import type { LambdaPhase, LambdaRow, LambdaSample, LambdaUnit } from './types.ts';

/** `http/redis/idem`: a configuration's name in logs and tables. */
export const lambdaUnitId = (u: LambdaUnit) => `${u.entry}/${u.store}/${u.library}`;

/** Every configuration: per entry, the bare handler, then each store × library. */
export function planLambdaUnits(
  entries: readonly Entry[],
  stores: readonly LambdaStore[],
  libraries: readonly LambdaLibrary[],
): LambdaUnit[] {
  return entries.flatMap((entry) => [
    ...(libraries.includes('bare')
      ? [{ entry, store: 'none' as const, library: 'bare' as const }]
      : []),
    ...stores.flatMap((store) =>
      libraries.filter((l) => l !== 'bare').map((library) => ({ entry, store, library })),
    ),
  ]);
}

/**
 * One entry's configurations in the order a pass measures them: the stores
 * in a shuffled order, each store's libraries together and shuffled among
 * themselves (idem and Powertools on one store run close in time, and
 * neither always runs first); bare is measured before and after, apart.
 */
export function lambdaPassOrder(units: readonly LambdaUnit[], random: () => number): LambdaUnit[] {
  const withStore = units.filter((u) => u.library !== 'bare');
  const stores = [...new Set(withStore.map((u) => u.store))];
  return shuffled(stores, random).flatMap((store) =>
    shuffled(
      withStore.filter((u) => u.store === store),
      random,
    ),
  );
}

/** How long a window runs: a number of invocations, or whole seconds. */
export type WindowLength = { readonly invocations: number } | { readonly seconds: number };

/** What one window measured. */
export interface WindowResult {
  readonly invocations: number;
  readonly seconds: number;
  readonly cpuMicros: number;
  readonly failures: number;
  readonly firstFailure?: string;
}

/**
 * Runs `invoke(i)` for i = 0, 1, … with `concurrency` in flight until the
 * window's length is reached. `invoke` answers whether the invocation
 * answered as it should; a throw counts as a failure too.
 */
export async function runWindow(
  invoke: (i: number) => Promise<boolean>,
  length: WindowLength,
  concurrency: number,
): Promise<WindowResult> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const until = 'seconds' in length ? started + length.seconds * 1000 : Number.POSITIVE_INFINITY;
  const count = 'invocations' in length ? length.invocations : Number.POSITIVE_INFINITY;
  let next = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const worker = async () => {
    while (next < count && performance.now() < until) {
      const i = next++;
      try {
        if (!(await invoke(i))) {
          failures++;
          firstFailure ??= `invocation ${i} answered wrongly`;
        }
      } catch (error) {
        failures++;
        firstFailure ??= (error as Error).message ?? String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(cpu);
  return {
    invocations: next,
    seconds: (performance.now() - started) / 1000,
    cpuMicros: used.user + used.system,
    failures,
    ...(firstFailure ? { firstFailure } : {}),
  };
}

/** A row from its windows, against the bare handler's rate per pass (the mean of its runs). */
export function summarizeLambda(
  unit: LambdaUnit,
  phase: LambdaPhase,
  samples: readonly (LambdaSample & { firstFailure?: string })[],
  bareByPass: ReadonlyMap<number, number>,
): LambdaRow {
  const sum = (f: (s: LambdaSample) => number) => samples.reduce((a, s) => a + f(s), 0);
  const invocations = sum((s) => s.invocations);
  const per = (n: number) => (invocations > 0 ? n / invocations : Number.NaN);
  const store: StoreCount = addCounts(samples.map((s) => s.store));
  const passRps = samples.map((s) => s.invocations / s.seconds);
  const passRatios = samples.map((s, i) => passRps[i]! / (bareByPass.get(s.pass) ?? Number.NaN));
  const firstFailure = samples.find((s) => s.firstFailure)?.firstFailure;
  return {
    unit,
    phase,
    rps: median(passRps),
    ratio: median(passRatios),
    passes: samples.map((s) => s.pass),
    passRps,
    passRatios,
    passCpuMicrosPerRequest: samples.map((s) =>
      s.invocations > 0 ? s.cpuMicros / s.invocations : Number.NaN,
    ),
    cpuMicrosPerInvocation: per(sum((s) => s.cpuMicros)),
    storeRequestsPerInvocation: per(store.requests),
    storeOpsPerInvocation: Object.fromEntries(
      Object.entries(store.ops).map(([name, n]) => [name, per(n)]),
    ),
    ...(store.units === undefined ? {} : { unitsPerInvocation: per(store.units) }),
    executionsPerInvocation: per(sum((s) => s.executions)),
    invocations,
    failures: sum((s) => s.failures),
    ...(firstFailure ? { firstFailure } : {}),
  };
}

/** One sample per pass: the bare handler runs twice in each (before and after the configurations). */
export function mergeByPass<S extends LambdaSample & { firstFailure?: string }>(
  samples: readonly S[],
): LambdaSample[] {
  const byPass = new Map<number, LambdaSample>();
  for (const s of samples) {
    const was = byPass.get(s.pass);
    byPass.set(
      s.pass,
      was
        ? {
            pass: s.pass,
            invocations: was.invocations + s.invocations,
            seconds: was.seconds + s.seconds,
            cpuMicros: was.cpuMicros + s.cpuMicros,
            executions: was.executions + s.executions,
            failures: was.failures + s.failures,
            store: addCounts([was.store, s.store]),
          }
        : s,
    );
  }
  return [...byPass.values()];
}

/** The bare handler's rate per pass: the mean of its runs before and after the configurations. */
export function bareRateByPass(
  samples: readonly Pick<LambdaSample, 'pass' | 'invocations' | 'seconds'>[],
): Map<number, number> {
  const byPass = new Map<number, number[]>();
  for (const s of samples)
    byPass.set(s.pass, [...(byPass.get(s.pass) ?? []), s.invocations / s.seconds]);
  return new Map(
    [...byPass].map(([pass, rates]) => [pass, rates.reduce((a, r) => a + r, 0) / rates.length]),
  );
}
