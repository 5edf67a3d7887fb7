/** The shape of results/results.json: what a run measured, from which BENCHMARKS.md is rendered. */
import type { Framework, Library, StoreKind, Unit } from './config.js';
import type { LoadResult } from './load.js';
import type { StormResult } from './storm.js';

export type Phase = 'fresh' | 'replay';

/** One phase of one unit in one pass. */
export interface Sample extends LoadResult {
  /** Store round trips the server counted during the window. */
  readonly storeCalls: number;
  /** The same, by operation (Redis command, DynamoDB API action). */
  readonly storeOps: Readonly<Record<string, number>>;
  /** POST requests the server counted during the window. */
  readonly posts: number;
  /** Handler executions during the window. */
  readonly executions: number;
  /** Server CPU time during the window, in microseconds. */
  readonly cpuMicros: number;
  /** The pass (0-based) it belongs to: a peer is compared with idem in the passes both ran. */
  readonly pass: number;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  readonly generator: string;
  readonly taskset: boolean;
  readonly redis?: string;
  readonly postgres?: string;
  /** Bun's version, when the run had Bun rows. */
  readonly bun?: string;
}

export interface Settings {
  readonly quick: boolean;
  readonly passes: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly storm: { keys: number; sendsPerKey: number; connections: number; delayMs: number };
  readonly memoryMaxRecords: number;
  readonly serverCpu?: number;
  readonly generatorCpu?: number;
  readonly runFrom: 'dist' | 'source';
  /**
   * Seed of the order configurations run in within each pass (shuffled per
   * pass and framework; `--seed` repeats it). Absent in older results, which
   * reversed the order every other pass.
   */
  readonly orderSeed?: number;
  /** Confidence level of the intervals (absent in older results: 0.95). */
  readonly confidence?: number;
}

export interface Row {
  readonly unit: Unit;
  readonly phase: Phase;
  /** Medians over passes. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Median over passes of rps / the bare framework's rps in the same pass. */
  readonly ratio: number;
  /** Per-pass figures, in pass order. */
  readonly passRps: readonly number[];
  readonly passRatios: readonly number[];
  /** The pass (0-based) of each per-pass entry; absent in older results, where entry i is pass i. */
  readonly passes?: readonly number[];
  /** Server CPU µs per request in each pass (absent in older results). */
  readonly passCpuMicrosPerRequest?: readonly number[];
  /** Over all passes: store round trips counted / POSTs counted. */
  readonly storeCallsPerRequest: number;
  /** The same by operation, per request. */
  readonly storeOpsPerRequest: Readonly<Record<string, number>>;
  /** Over all passes: server CPU microseconds / POSTs (what a request costs, whatever the latency). */
  readonly cpuMicrosPerRequest: number;
  /** Over all passes: handler executions / POSTs. */
  readonly executionsPerRequest: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly requests: number;
}

export interface BareRow {
  readonly framework: Framework;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly passRps: readonly number[];
  readonly cpuMicrosPerRequest: number;
  /** The pass of each `passRps` entry (absent in older results: entry i is pass i). */
  readonly passes?: readonly number[];
  /** Server CPU µs per request in each pass (absent in older results). */
  readonly passCpuMicrosPerRequest?: readonly number[];
}

export interface StormRow {
  readonly unit: Unit;
  /** A second configuration of the same server (Powertools without a Lambda context). */
  readonly variant?: string;
  readonly result: StormResult;
}

export interface FingerprintRow {
  readonly label: string;
  readonly bytes: number;
  readonly fingerprintOpsPerSec: number;
  readonly baselineOpsPerSec: number;
  /** fingerprint ops/s over baseline ops/s. */
  readonly ratio: number;
}

export interface MemoryResult {
  readonly records: number;
  readonly maxRecords: number;
  readonly bytesPerRecord: number;
  readonly heapBytesPerRecord: number;
  readonly externalBytesPerRecord: number;
  readonly peakRssBytes: number;
  readonly baselineRssBytes: number;
  readonly fillSeconds: number;
  /** Time spent in GC pauses while filling the store (absent in older results). */
  readonly fillGcSeconds?: number;
  readonly bodyBytes: number;
  /** Heap bytes allocated, garbage included, by a fresh key's claim and complete (with their awaits). */
  readonly freshAllocatedBytes?: number;
  /** Heap bytes allocated by a replay: a claim refused with the completed record. */
  readonly replayAllocatedBytes?: number;
}

export interface Results {
  readonly version: 1;
  readonly date: string;
  readonly commit: string;
  readonly runId: string;
  readonly durationSeconds: number;
  readonly machine: Machine;
  readonly settings: Settings;
  readonly bare: readonly BareRow[];
  readonly rows: readonly Row[];
  readonly storms: readonly StormRow[];
  readonly fingerprint: readonly FingerprintRow[];
  readonly memory?: MemoryResult;
  /** Peers we tried to install, and what the registry said. */
  readonly unavailable: readonly { name: string; reason: string }[];
  /** Units that failed to start or to answer, with the error. */
  readonly failures: readonly { unit: string; error: string }[];
  /** Stores skipped because their server was unreachable (never under CI=true). */
  readonly skippedStores: readonly StoreKind[];
  readonly libraries: readonly Library[];
}

/** Redis's own CPU per request, per library (src/redis-cpu.ts; results/redis-cpu.json). */
export interface RedisCpuResults {
  readonly redisVersion: string;
  /** Requests per window, windows per measure (medians are reported), requests at once. */
  readonly requests: number;
  readonly windows: number;
  readonly concurrency: number;
  readonly rows: readonly {
    /** The library's label (`idem`, `@node-idempotency/core`, …). */
    readonly library: string;
    /** How it was driven: `engine, ioredis`, `HTTP, hono`, … */
    readonly via: string;
    /** Redis CPU per fresh request (claim and completion) and per replay, in µs. */
    readonly freshUs: number;
    readonly replayUs: number;
    /** The commands behind each figure, with their µs per call. */
    readonly freshCommands: string;
    readonly replayCommands: string;
  }[];
}
