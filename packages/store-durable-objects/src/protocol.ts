import type { ClaimResult, OwnerResult, StoredRecord, StoredResponse } from '@idem/core/store';

/**
 * One store operation as the client sends it to the key's object in a single
 * RPC call: the lifecycle event of `@idem/core` plus the store key, and the
 * caller's clock reading when the store was given one (`now`); without it the
 * object judges time by its own clock.
 */
export type Operation =
  | {
      readonly type: 'claim';
      readonly key: string;
      readonly fingerprint: string;
      readonly token: string;
      readonly leaseMs: number;
      readonly now?: number;
    }
  | {
      readonly type: 'complete';
      readonly key: string;
      readonly token: string;
      readonly response: StoredResponse;
      readonly ttlMs: number;
      readonly now?: number;
    }
  | {
      readonly type: 'release';
      readonly key: string;
      readonly token: string;
      readonly now?: number;
    }
  | {
      readonly type: 'renew';
      readonly key: string;
      readonly token: string;
      readonly leaseMs: number;
      readonly now?: number;
    }
  | { readonly type: 'read'; readonly key: string; readonly now?: number }
  /** Delete the record, whatever its state (for operators). */
  | { readonly type: 'remove'; readonly key: string; readonly now?: number };

/** What the object answers: a claim's result, an owner result, or the live record (`null`: none). */
export type Reply = ClaimResult | OwnerResult | StoredRecord | null;

/** The SQLite storage API of a Durable Object (`ctx.storage.sql`), the part the object uses. */
export interface SqlStorageLike {
  exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[] };
}

/** The part of a Durable Object's `ctx` (`DurableObjectState`) the object uses. */
export interface DurableObjectStateLike {
  readonly storage: {
    readonly sql: SqlStorageLike;
    getAlarm(): Promise<number | null>;
    setAlarm(scheduledTime: number): Promise<void>;
    deleteAlarm(): Promise<void>;
    deleteAll(): Promise<void>;
  };
}

/** An instance of {@link IdempotencyObjectClass}: what its RPC stubs answer. */
export interface IdempotencyObjectInstance {
  /** Run one store operation atomically on this object's records. */
  perform(operation: Operation): Promise<Reply>;
  /** Delete the records whose deadline passed; workerd calls it when the alarm fires. */
  alarm(): Promise<void>;
}

/** The Durable Object class of the store, as workerd constructs it. */
export type IdempotencyObjectClass = new (
  ctx: DurableObjectStateLike,
  env: unknown,
) => IdempotencyObjectInstance;

/** Marks the error an object raises when it has no SQLite storage; the client maps it to a ConfigurationError. */
export const NEEDS_SQLITE =
  'IdempotencyObject needs SQLite storage: declare it under new_sqlite_classes in a [[migrations]] entry of wrangler.toml (a class created under new_classes cannot switch; bind a new class name).';
