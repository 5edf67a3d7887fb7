/**
 * How the cost tool drives a store: a way of doing the job (by hand, or
 * through idem) is a list of phases per key; each phase runs for every key,
 * a few at a time, in a window of its own, and the window's CPU (this
 * process's, and the database's from its meter) is divided by the keys.
 */

import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createIdempotency, type Execution } from '@idem/core';
import type { Store } from '@idem/core/store';
import { addSamples, compare, cpuMicrosBetween, type ProcTicks, parseProcStat } from './metrics.ts';
import type { CostComparison, CostSample } from './types.ts';

/** One step of a request for a key; resolves once the database has answered it. */
export type Phase = (key: string) => Promise<void>;

/** A way of doing the job: the phases of a first request, and of a replay. */
export interface Way {
  /** A first request, as one or more phases (claim, then completion), each in windows of its own. */
  readonly first: readonly Phase[];
  /** A retry of a completed key. */
  readonly replay: readonly Phase[];
}

/** What a window cost the database, beyond this process's CPU. */
export interface DbWindow {
  /** Database CPU in the window, µs in all. */
  readonly us: number;
  /** Round trips in the window, where counted. */
  readonly roundTrips?: number;
  /** Request units in the window, where counted. */
  readonly units?: number;
}

/** Measures the database while `run` sends `requests` requests. */
export interface DbMeter {
  /**
   * One window. `label` names the way and phase (`idem:first:0`), so a meter
   * can keep what it learnt in {@link DbMeter.calibrate} per phase.
   */
  window(label: string, requests: number, run: () => Promise<void>): Promise<DbWindow>;
  /** Run once per phase before the windows, on warm-up keys (Redis: script calls). */
  calibrate?(label: string, requests: number, run: () => Promise<void>): Promise<void>;
}

/** A meter for stores where nothing but this process's CPU is measured. */
export const noDb: DbMeter = {
  async window(_label, _requests, run) {
    await run();
    return { us: 0 };
  },
};

/** `phase` for every key, at most `concurrency` at once. */
export async function drive(
  keys: readonly string[],
  phase: Phase,
  concurrency: number,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, keys.length) }, async () => {
      while (next < keys.length) await phase(keys[next++]!);
    }),
  );
}

/** How a store is measured. */
export interface Plan {
  readonly keys: number;
  readonly concurrency: number;
  readonly passes: number;
  /** Keys of the warm-up (and calibration) run of each way. */
  readonly warmKeys: number;
}

/** Costs of one way over one pass, per request. */
interface PassCost {
  readonly first: CostSample;
  readonly replay: CostSample;
}

/** Windows over every phase of `phases` on `keys`, summed per request. */
async function windows(
  meter: DbMeter,
  label: string,
  phases: readonly Phase[],
  keys: readonly string[],
  concurrency: number,
): Promise<CostSample> {
  const samples: CostSample[] = [];
  for (const [i, phase] of phases.entries()) {
    const run = () => drive(keys, phase, concurrency);
    const app0 = process.cpuUsage();
    const db = await meter.window(`${label}:${i}`, keys.length, run);
    const app = process.cpuUsage(app0);
    const n = keys.length;
    samples.push({
      appUs: (app.user + app.system) / n,
      dbUs: db.us / n,
      ...(db.roundTrips === undefined ? {} : { roundTrips: db.roundTrips / n }),
      ...(db.units === undefined ? {} : { units: db.units / n }),
    });
  }
  return addSamples(samples);
}

/**
 * Warm-up (with the meter's calibration), then `passes` interleaved passes of
 * floor and idem on fresh keys each: first requests, then their replays.
 */
export async function measureWays(
  meter: DbMeter,
  ways: { floor: Way; idem: Way },
  plan: Plan,
  run: string,
): Promise<{ first: CostComparison; replay: CostComparison }> {
  const keysOf = (what: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${run}-${what}-${i}`);
  for (const name of ['floor', 'idem'] as const) {
    const way = ways[name];
    const warm = keysOf(`${name}-warm`, plan.warmKeys);
    for (const [kind, phases] of [
      ['first', way.first],
      ['replay', way.replay],
    ] as const) {
      for (const [i, phase] of phases.entries()) {
        const go = () => drive(warm, phase, plan.concurrency);
        if (meter.calibrate) await meter.calibrate(`${name}:${kind}:${i}`, warm.length, go);
        else await go();
      }
    }
  }
  const passes: Record<'floor' | 'idem', PassCost[]> = { floor: [], idem: [] };
  for (let p = 0; p < plan.passes; p++) {
    // Alternate which goes first, so neither always runs on a warmer machine.
    const order = p % 2 === 0 ? (['floor', 'idem'] as const) : (['idem', 'floor'] as const);
    for (const name of order) {
      const keys = keysOf(`${name}-p${p}`, plan.keys);
      const way = ways[name];
      const first = await windows(meter, `${name}:first`, way.first, keys, plan.concurrency);
      const replay = await windows(meter, `${name}:replay`, way.replay, keys, plan.concurrency);
      passes[name].push({ first, replay });
    }
  }
  return {
    first: compare(
      passes.floor.map((p) => p.first),
      passes.idem.map((p) => p.first),
    ),
    replay: compare(
      passes.floor.map((p) => p.replay),
      passes.idem.map((p) => p.replay),
    ),
  };
}

// --- idem's engine as a way ------------------------------------------------------------

/** The response every first request completes with. */
export const RESPONSE = {
  status: 200,
  headers: [['content-type', 'application/json']] as Array<[string, string]>,
  body: new TextEncoder().encode(
    '{"id":"pay_1","amount":1999,"currency":"eur","status":"succeeded"}',
  ),
};

/** A fingerprint of the size idem's HTTP layer makes (a base64url SHA-256 with a prefix). */
export const FINGERPRINT = 'v1:Q2FzaCBpcyBraW5nLCBidXQgaWRlbXBvdGVuY3kgaXMgcXVlZW4';

/** A random owner token of the size the engine mints. */
export const token = (): string => Math.random().toString(36).slice(2).padEnd(22, '0');

/**
 * idem's engine on `store`, engine only (no HTTP): `begin`, then `complete`,
 * for a first request; `begin` on a completed key for a replay.
 */
export function idemWay(store: Store): Way {
  // A lease far longer than any window: the phases hold every key's claim
  // until the completion window, much longer than a request would, and the
  // renewals (every third of a lease) would otherwise be counted as its cost.
  const idem = createIdempotency({ store, leaseMs: 600_000, ttlMs: 3_600_000 });
  const claimed = new Map<string, Execution>();
  const begin = (key: string) => idem.begin({ scope: 'cost', key, fingerprint: FINGERPRINT });
  return {
    first: [
      async (key) => {
        const decision = await begin(key);
        if (decision.kind !== 'execute') throw new Error(`${key}: expected to execute`);
        claimed.set(key, decision);
      },
      async (key) => {
        await claimed.get(key)!.complete(RESPONSE);
        claimed.delete(key);
      },
    ],
    replay: [
      async (key) => {
        if ((await begin(key)).kind !== 'replay') throw new Error(`${key}: expected a replay`);
      },
    ],
  };
}

// --- processes' CPU from /proc -------------------------------------------------------------

/** Linux's USER_HZ, from `getconf CLK_TCK`; 100 when getconf is missing. */
export const CLOCK_TICKS: number = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of each process, summed, in ticks. */
export async function ticksOf(pids: readonly number[]): Promise<ProcTicks> {
  let utime = 0;
  let stime = 0;
  for (const pid of pids) {
    const t = parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
    utime += t.utime;
    stime += t.stime;
  }
  return { utime, stime };
}

/** A meter that reads the CPU of `pids` from /proc before and after each window. */
export function procMeter(pids: () => readonly number[]): DbMeter {
  return {
    async window(_label, _requests, run) {
      const before = await ticksOf(pids());
      await run();
      const after = await ticksOf(pids());
      return { us: cpuMicrosBetween(before, after, CLOCK_TICKS) };
    },
  };
}
