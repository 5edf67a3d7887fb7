/**
 * What `pnpm cost` (src/cost/main.ts) writes to results/cost.json, and what
 * {@link costSection} renders. Figures are per request, medians over the
 * interleaved passes.
 */

/** The stores the cost tool measures. */
export type CostStore = 'postgres' | 'mysql' | 'redis' | 'dynamodb' | 'memory';

/** Every store, in the order the tool runs them. */
export const COST_STORES: readonly CostStore[] = [
  'memory',
  'redis',
  'postgres',
  'mysql',
  'dynamodb',
];

/** One pass's cost of one kind of request, per request. */
export interface CostSample {
  /** CPU of this process (process.cpuUsage), microseconds per request. */
  readonly appUs: number;
  /** CPU of the database for the same requests, microseconds per request (0 where not measured). */
  readonly dbUs: number;
  /** Round trips to the database per request, where counted (DynamoDB). */
  readonly roundTrips?: number;
  /** Request units per request (DynamoDB: WCU + RCU), where counted. */
  readonly units?: number;
}

/** Medians over the passes of one kind of request, done one way. */
export interface CostFigures {
  /** Median app CPU, µs per request. */
  readonly appUs: number;
  /** Median database CPU, µs per request. */
  readonly dbUs: number;
  /** Median of app + database CPU, µs per request (per pass, then the median). */
  readonly totalUs: number;
  /** Median round trips per request, where counted. */
  readonly roundTrips?: number;
  /** Median request units per request, where counted. */
  readonly units?: number;
  /** Every pass, in order. */
  readonly passes: readonly CostSample[];
}

/** One kind of request (first or replay), by hand and through idem. */
export interface CostComparison {
  /** The same job by hand against the same database: the floor. */
  readonly floor: CostFigures;
  /** idem's engine (`begin`, then `complete`) on the store. */
  readonly idem: CostFigures;
  /** idem / floor of the medians of app + database CPU. */
  readonly ratio: number;
  /** idem / floor of the request units (DynamoDB). */
  readonly unitsRatio?: number;
}

/** One store's row. */
export interface CostRow {
  readonly store: CostStore;
  /** Client library and anything else that tells rows of one store apart (`ioredis`, `node-redis`). */
  readonly via: string;
  /** Server name and version, e.g. `PostgreSQL 15.20`. */
  readonly server: string;
  /** How the database CPU was measured, in a few words. */
  readonly dbCpu: string;
  /** What the floor does, in a few words (`INSERT … ON CONFLICT DO NOTHING + UPDATE; SELECT`). */
  readonly floor: string;
  readonly first: CostComparison;
  readonly replay: CostComparison;
  /**
   * What the database did per request, where it says (Redis: the commands
   * the client sent, with their median usec per call; DynamoDB: the calls by
   * action with their request units), by way and kind.
   */
  readonly commands?: {
    readonly first: { readonly floor: string; readonly idem: string };
    readonly replay: { readonly floor: string; readonly idem: string };
  };
  /** A target the issue names, printed beside the figure (Redis: fresh request ≤ 6 µs of Redis CPU). */
  readonly target?: {
    readonly what: string;
    readonly limitUs: number;
    readonly measuredUs: number;
  };
}

/** Counters of the database before and after replays of completed keys: what replays write. */
export interface WriteProof {
  readonly store: CostStore;
  /** Replays measured (every one a `begin` on a completed key). */
  readonly replays: number;
  /** Counter name → how much it moved over the replays. */
  readonly replayDeltas: Readonly<Record<string, number>>;
  /** The same counters over the first requests that completed those keys: shows the counters move. */
  readonly firstDeltas: Readonly<Record<string, number>>;
  /** The same counters over as long as the replays took, with no requests: the server's own writes. */
  readonly idleDeltas: Readonly<Record<string, number>>;
  /** The keys the first requests completed. */
  readonly firstRequests: number;
  /** Why a counter may include someone else's work (server-wide counters on a shared server). */
  readonly note: string;
}

/** One duplicate storm: many concurrent `begin`s of one key, `concurrent: 'wait'`. */
export interface StormResult {
  readonly store: CostStore;
  readonly via: string;
  /** Whether core's in-process single flight was on (its `singleFlight` option). */
  readonly singleFlight: boolean;
  /** Concurrent `begin` calls of the one key. */
  readonly requests: number;
  /** How long the handler of the one execution took, ms. */
  readonly handlerMs: number;
  /** Rounds (one fresh key each); figures are medians over them. */
  readonly rounds: number;
  /** Times the handler ran in the worst round (1 is right). */
  readonly executions: number;
  /** Store calls per duplicate (every request but the one that executed), by method, and in all. */
  readonly callsPerDuplicate: Readonly<Record<string, number>> & { readonly total: number };
  /** Median of the duplicates' waits from `begin` to their replay, ms. */
  readonly waitMedianMs: number;
  /** Longest wait of a duplicate, ms. */
  readonly waitMaxMs: number;
  /** Median time from the completion's end to a duplicate's replay, ms. */
  readonly lagMedianMs: number;
  /** Longest time from the completion's end to a duplicate's replay, ms. */
  readonly lagMaxMs: number;
}

/** results/cost.json. */
export interface CostResults {
  /** ISO time of the run. */
  readonly date: string;
  /** Keys per pass (each a first request, then a replay). */
  readonly keys: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Connections in each database pool. */
  readonly poolSize: number;
  /** Interleaved passes (floor, idem, floor, idem…). */
  readonly passes: number;
  /** Host CPU count and model, for reading the figures. */
  readonly host: string;
  readonly rows: readonly CostRow[];
  readonly writeProofs: readonly WriteProof[];
  readonly storms: readonly StormResult[];
  /** Stores skipped (unreachable outside CI), with the reason. */
  readonly skipped: ReadonlyArray<{ readonly store: CostStore; readonly reason: string }>;
}
