/**
 * A duplicate storm in one process: `requests` concurrent `begin`s of one
 * key with `concurrent: 'wait'`; the one that executes runs a handler of
 * `handlerMs`, the others wait for its result. Counts the store calls per
 * duplicate (a counter around the store's methods) and how long the
 * duplicates waited: what in-process single-flight in core saves.
 */
import { createIdempotency } from '@idem/core';
import type { Store } from '@idem/core/store';
import { median } from '../stats.ts';
import { callsPerDuplicate } from './metrics.ts';
import { FINGERPRINT, RESPONSE } from './run.ts';
import type { CostStore, StormResult } from './types.ts';

/** A store whose method calls are counted, by method name. */
export function countingStore<S extends Store>(
  store: S,
): { store: S; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const counted = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        calls[property] = (calls[property] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: counted, calls };
}

/** What one round saw. */
interface Round {
  readonly executions: number;
  readonly perDuplicate: Record<string, number> & { total: number };
  /** Each duplicate's wait from `begin` to its replay, ms. */
  readonly waits: number[];
  /** Each duplicate's replay after the completion ended, ms. */
  readonly lags: number[];
}

/** One round: a fresh key, `requests` begins at once. */
async function round(
  store: Store,
  calls: Record<string, number>,
  key: string,
  requests: number,
  handlerMs: number,
  singleFlight: boolean,
): Promise<Round> {
  const engine = createIdempotency({
    store,
    singleFlight,
    concurrent: 'wait',
    waitTimeoutMs: 30_000,
    ttlMs: 3_600_000,
    leaseMs: 60_000,
  });
  for (const k of Object.keys(calls)) delete calls[k];
  let executions = 0;
  let completedAt = 0;
  let executorCalls: Record<string, number> = {};
  const replays: Array<{ began: number; ended: number }> = [];
  await Promise.all(
    Array.from({ length: requests }, async () => {
      const began = performance.now();
      const decision = await engine.begin({ scope: 'storm', key, fingerprint: FINGERPRINT });
      if (decision.kind === 'replay') {
        replays.push({ began, ended: performance.now() });
        return;
      }
      executions++;
      await new Promise((r) => setTimeout(r, handlerMs));
      await decision.complete(RESPONSE);
      completedAt = performance.now();
      // The executor's own calls: its claim and its completion.
      executorCalls = { claim: 1, complete: 1 };
    }),
  );
  return {
    executions,
    perDuplicate: callsPerDuplicate(calls, executorCalls, requests - executions),
    waits: replays.map((r) => r.ended - r.began),
    lags: replays.map((r) => r.ended - completedAt),
  };
}

/** `rounds` storms on `store`; medians over the rounds. */
export async function storm(
  name: CostStore,
  via: string,
  store: Store,
  options: {
    requests: number;
    handlerMs: number;
    rounds: number;
    run: string;
    /** core's in-process single flight (its `singleFlight` option), on or off. */
    singleFlight: boolean;
  },
): Promise<StormResult> {
  const { store: counted, calls } = countingStore(store);
  const rounds: Round[] = [];
  for (let r = 0; r < options.rounds; r++) {
    rounds.push(
      await round(
        counted,
        calls,
        `${options.run}-storm-${options.singleFlight ? 'sf' : 'nosf'}-${r}`,
        options.requests,
        options.handlerMs,
        options.singleFlight,
      ),
    );
  }
  const methods = [...new Set(rounds.flatMap((r) => Object.keys(r.perDuplicate)))];
  const perDuplicate = Object.fromEntries(
    methods.map((m) => [m, median(rounds.map((r) => r.perDuplicate[m] ?? 0))]),
  ) as Record<string, number> & { total: number };
  const max = (values: number[]) =>
    values.length === 0 ? Number.NaN : values.reduce((a, b) => Math.max(a, b), -Infinity);
  return {
    store: name,
    via,
    singleFlight: options.singleFlight,
    requests: options.requests,
    handlerMs: options.handlerMs,
    rounds: options.rounds,
    // The worst round: more than one execution is a failure, never averaged away.
    executions: max(rounds.map((r) => r.executions)),
    callsPerDuplicate: perDuplicate,
    waitMedianMs: median(rounds.map((r) => median(r.waits))),
    waitMaxMs: max(rounds.map((r) => max(r.waits))),
    lagMedianMs: median(rounds.map((r) => median(r.lags))),
    lagMaxMs: max(rounds.map((r) => max(r.lags))),
  };
}
