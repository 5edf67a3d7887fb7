/** results/lambda.json: what the Lambda section measured. */
import type { StoreCount } from './counters.ts';
import type { Concurrent, Entry, LambdaLibrary, LambdaStore } from './libraries.ts';

/** One configuration: a handler shape, a store (none for bare) and a library. */
export interface LambdaUnit {
  readonly entry: Entry;
  readonly store: LambdaStore | 'none';
  readonly library: LambdaLibrary;
}

/** `first`: a fresh key every invocation; `replay`: every invocation repeats one completed key. */
export type LambdaPhase = 'first' | 'replay';

/** One window of invocations. */
export interface LambdaSample {
  readonly pass: number;
  readonly invocations: number;
  readonly seconds: number;
  /** This process's CPU over the window (`process.cpuUsage()`): the stores run elsewhere. */
  readonly cpuMicros: number;
  /** Handler executions in the window. */
  readonly executions: number;
  /** Invocations that threw or answered other than 201 / the receipt. */
  readonly failures: number;
  readonly store: StoreCount;
}

/** One configuration and phase over every pass. */
export interface LambdaRow {
  readonly unit: LambdaUnit;
  readonly phase: LambdaPhase;
  /** Median over passes. */
  readonly rps: number;
  /** Median over passes of rps over the bare handler's of the same entry in the same pass. */
  readonly ratio: number;
  readonly passes: readonly number[];
  readonly passRps: readonly number[];
  readonly passRatios: readonly number[];
  /** CPU µs per invocation in each pass (named as src/compare.ts reads it). */
  readonly passCpuMicrosPerRequest: readonly number[];
  readonly cpuMicrosPerInvocation: number;
  readonly storeRequestsPerInvocation: number;
  readonly storeOpsPerInvocation: Readonly<Record<string, number>>;
  /** DynamoDB request units per invocation. */
  readonly unitsPerInvocation?: number;
  readonly executionsPerInvocation: number;
  readonly invocations: number;
  readonly failures: number;
  /** The first failure's message, when there was one. */
  readonly firstFailure?: string;
}

/** One storm's counts and answers. */
export interface LambdaStormResult {
  readonly unit: LambdaUnit;
  /** idem's setting for a duplicate in flight; absent for Powertools (it has none). */
  readonly concurrent?: Concurrent;
  /** DynamoDB: lost claims answered with the item, as AWS does (dynalite does not). */
  readonly conflictsWithItem?: boolean;
  /** Duplicates spread over the handler's run rather than all at once. */
  readonly spread?: boolean;
  readonly keys: number;
  /** Invocations per key, all at once, each on an instance of its own. */
  readonly duplicates: number;
  readonly delayMs: number;
  readonly invocations: number;
  readonly executions: number;
  readonly keysMoreThanOnce: number;
  readonly keysNever: number;
  readonly maxPerKey: number;
  readonly exactlyOnce: boolean;
  /** What the invocations answered, by kind (`201`, `409 + Retry-After`, `throws IdempotencyAlreadyInProgressError`). */
  readonly answers: Readonly<Record<string, number>>;
  readonly store: StoreCount;
  /** Store requests over the storm beyond what its keys' first calls take, per duplicate. */
  readonly storeRequestsPerDuplicate?: number;
  readonly seconds: number;
}

/** How the run measured. */
export interface LambdaSettings {
  readonly quick: boolean;
  readonly passes: number;
  /** Per phase and pass; 0 in quick mode, which runs `invocations` instead. */
  readonly seconds: number;
  readonly invocations: number;
  readonly warmupSeconds: number;
  /** Invocations in flight at once in a window (a Lambda instance runs one at a time). */
  readonly concurrency: number;
  readonly storm: { readonly keys: number; readonly duplicates: number; readonly delayMs: number };
  readonly orderSeed: number;
  readonly confidence: number;
}

/** Everything the Lambda section measured in one run. */
export interface LambdaResults {
  readonly version: 1;
  readonly date: string;
  readonly commit: string;
  readonly run: string;
  readonly durationSeconds: number;
  readonly settings: LambdaSettings;
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly node: string;
    readonly redis?: string;
    readonly dynamodb: string;
  };
  /** Package versions: Powertools, the AWS SDK, @redis/client, ioredis. */
  readonly versions: Readonly<Record<string, string>>;
  /** The libraries this run was asked to measure. */
  readonly libraries: readonly LambdaLibrary[];
  readonly rows: readonly LambdaRow[];
  /**
   * DynamoDB first calls and replays counted as AWS answers a lost claim
   * (the item comes back with the failed condition); counts only, no speed.
   */
  readonly conflictsWithItemRows?: readonly LambdaRow[];
  readonly storms: readonly LambdaStormResult[];
  readonly failures: readonly { readonly unit: string; readonly error: string }[];
  readonly skipped: readonly { readonly what: string; readonly reason: string }[];
}
