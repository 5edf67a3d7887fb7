import type { IdempotencyOptions, Store } from '@idem/core';
import type { ServerConfig, ServerStats, Unit } from '../config.js';

/** The JSON body of a payment, as the client sends it. */
export interface Payment {
  readonly amount?: number;
  readonly currency?: string;
  readonly description?: string;
  /** Storm requests only: how long the "payment provider call" takes. */
  readonly delayMs?: number;
}

export interface Receipt {
  readonly id: string;
  readonly amount: number | undefined;
  readonly currency: string | undefined;
  readonly status: 'succeeded';
}

/** The @node-idempotency/core API the glue uses. */
export interface NodeIdempotency {
  onRequest(params: NodeIdempotencyParams): Promise<NodeIdempotencyResponse | undefined>;
  onResponse(params: NodeIdempotencyParams, response: NodeIdempotencyResponse): Promise<void>;
}
export interface NodeIdempotencyParams {
  headers: Record<string, unknown>;
  path: string;
  method: string;
  body?: Record<string, unknown>;
}
export interface NodeIdempotencyResponse {
  body?: unknown;
  additional?: Record<string, unknown>;
}

/** Everything a framework's app builder needs. */
export interface BuildContext {
  readonly config: ServerConfig;
  readonly unit: Unit;
  /** The handler: counts executions, and per key for storm requests. */
  charge(body: Payment, key: () => string | undefined): Receipt | Promise<Receipt>;
  stats(): ServerStats;
  stormCounts(): Record<string, number>;
  /** idem's store, for `library: 'idem'` and `'idem-cache'`. */
  readonly idemStore?: Store;
  /** idem's options beyond the store and scope: the replay cache for `idem-cache`. */
  readonly idemOptions?: Pick<IdempotencyOptions, 'cache'>;
  /** express-idempotency's data adapter, for `library: 'express-idempotency'`. */
  readonly expressIdempotencyAdapter?: unknown;
  readonly nodeIdempotency?: NodeIdempotency;
  /** The charge wrapped by Powertools' makeIdempotent, with and without a stand-in Lambda context. */
  readonly powertools?: {
    readonly withContext: (input: { key: string; body: Payment }) => Promise<Receipt>;
    readonly withoutContext: (input: { key: string; body: Payment }) => Promise<Receipt>;
  };
}

/** Where the storm reaches Powertools without a Lambda context. */
export const WITHOUT_CONTEXT_PATH = '/payments-without-context';

/** HTTP status for a peer's error, so every library answers a duplicate in flight with 409. */
export function peerErrorStatus(error: unknown): number {
  const name = error instanceof Error ? error.constructor.name : '';
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'REQUEST_IN_PROGRESS' || name === 'IdempotencyAlreadyInProgressError') return 409;
  if (code === 'IDEMPOTENCY_FINGERPRINT_MISSMATCH' || name === 'IdempotencyValidationError') {
    return 422;
  }
  if (code === 'IDEMPOTENCY_KEY_LEN_EXEEDED' || code === 'IDEMPOTENCY_KEY_MISSING') return 400;
  return 500;
}

export function errorBody(error: unknown): { error: string } {
  return { error: error instanceof Error ? error.message : String(error) };
}
