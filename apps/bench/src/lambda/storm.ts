/**
 * The Lambda retry storm: every key invoked `duplicates` times at once, each
 * duplicate on a Lambda instance of its own (its own engine or persistence
 * layer, so nothing is shared in memory, as between real instances), against
 * a handler that takes `delayMs`. Counts executions per key, what each
 * invocation answered and the store requests.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { PaymentsApp } from './app.ts';
import { countDelta, NO_COUNT } from './counters.ts';
import { type Concurrent, type Entry, invokeEntry, type LibrarySide } from './libraries.ts';
import type { LambdaStormResult } from './types.ts';

/** One storm: how many keys, duplicates per key, how long the handler takes. */
export interface LambdaStormOptions {
  readonly keys: number;
  readonly duplicates: number;
  readonly delayMs: number;
  readonly keyPrefix: string;
  /**
   * Spread the duplicates of a key over the handler's run (duplicate d
   * starts d × delayMs / duplicates after the first) instead of all at once:
   * retries that meet the first in flight and, late, its result.
   * @default false
   */
  readonly spread?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** When duplicate `d` of a key starts, in ms after the first. */
export function arrivalMs(
  d: number,
  options: Pick<LambdaStormOptions, 'spread' | 'delayMs' | 'duplicates'>,
): number {
  return options.spread ? (d * options.delayMs) / options.duplicates : 0;
}

/**
 * What one invocation answered, as its caller sees it: an HTTP API handler's
 * status (with `+ Retry-After` when it says when to retry), a payload
 * handler's result, or the error it threw (which API Gateway turns into a
 * 500 and an asynchronous invoke into a retry).
 */
export function answerOf(entry: Entry, outcome: PromiseSettledResult<unknown>): string {
  if (outcome.status === 'rejected') {
    const error = outcome.reason as { name?: unknown } | null;
    return `throws ${typeof error?.name === 'string' ? error.name : 'a non-Error'}`;
  }
  if (entry === 'function') return 'result';
  const result = outcome.value as APIGatewayProxyStructuredResultV2;
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return `${result.statusCode}${'retry-after' in headers ? ' + Retry-After' : ''}`;
}

/** Store requests beyond the keys' first calls, per duplicate (NaN when there are none). */
export function requestsPerDuplicate(
  total: number,
  keys: number,
  duplicates: number,
  firstCallRequests: number,
): number {
  const extra = keys * (duplicates - 1);
  return extra > 0 ? (total - keys * firstCallRequests) / extra : Number.NaN;
}

/** Runs one storm of `side` on `entry` (with idem's `concurrent` setting when given). */
export async function runLambdaStorm(
  side: LibrarySide,
  entry: Entry,
  options: LambdaStormOptions,
  concurrent?: Concurrent,
): Promise<Omit<LambdaStormResult, 'storeRequestsPerDuplicate'>> {
  const app = new PaymentsApp();
  const instances = Array.from({ length: options.duplicates }, () =>
    side.instance(app, concurrent),
  );
  const keys = Array.from({ length: options.keys }, (_, k) => `${options.keyPrefix}-${k}`);
  const before = side.counter?.read() ?? NO_COUNT;
  const started = performance.now();
  const outcomes = await Promise.allSettled(
    keys.flatMap((key) =>
      instances.map(async (instance, d) => {
        const at = arrivalMs(d, options);
        if (at > 0) await sleep(at);
        return invokeEntry(instance, entry, key, options.delayMs);
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const store = countDelta(before, side.counter?.read() ?? NO_COUNT);
  const answers: Record<string, number> = {};
  for (const outcome of outcomes) {
    const answer = answerOf(entry, outcome);
    answers[answer] = (answers[answer] ?? 0) + 1;
  }
  const perKey = keys.map((key) => app.executionsOf(key));
  return {
    unit: { entry, store: side.store, library: side.library },
    ...(concurrent ? { concurrent } : {}),
    ...(side.conflictsWithItem ? { conflictsWithItem: true } : {}),
    ...(options.spread ? { spread: true } : {}),
    keys: options.keys,
    duplicates: options.duplicates,
    delayMs: options.delayMs,
    invocations: outcomes.length,
    executions: perKey.reduce((a, n) => a + n, 0),
    keysMoreThanOnce: perKey.filter((n) => n > 1).length,
    keysNever: perKey.filter((n) => n === 0).length,
    maxPerKey: Math.max(0, ...perKey),
    exactlyOnce: perKey.every((n) => n === 1),
    answers,
    store,
    seconds,
  };
}
