import type { Claim, Idempotency, IdempotencyOptions, ResultCodec } from '@idem/core';
import type { Context } from 'aws-lambda';
import type { RecordKey } from './key.js';
import type { BatchRecord } from './sources.js';

/**
 * Handles one record. Runs at most once per record key: a redelivered
 * record whose handler already succeeded gets the stored result instead.
 * The third argument is the claim the record runs under: pass it to a
 * transactional store (`store.transaction(claim)` on `@idem/store-postgres`)
 * to commit the handler's writes together with idem's record.
 */
export type RecordHandler<R extends BatchRecord, T> = (
  record: R,
  context: Context,
  claim: Claim,
) => T | Promise<T>;

/** The options of {@link idempotentBatch} besides the engine's. */
export interface BatchOptions<R extends BatchRecord, T> {
  /**
   * The record's key: a JSON Pointer (RFC 6901) into the JSON body (SQS),
   * the base64-decoded JSON data (Kinesis) or the `dynamodb` change
   * (DynamoDB Streams), such as `'/orderId'`; or a function of the record
   * returning a string or a safe integer. A record whose key is missing is
   * reported as failed and logged, never run unprotected.
   * @default the record's own id, the same on every redelivery: `messageId`
   *   (SQS), `eventID` (Kinesis: shard id and sequence number; DynamoDB Streams)
   */
  readonly key?: RecordKey<R>;
  /**
   * The scope the records' keys belong to: a string, or a function of the record.
   * @default the queue's name for SQS (consumers of a queue compete for its
   *   messages, so they share one scope); for Kinesis and DynamoDB Streams,
   *   where every function reading the stream sees every record, the
   *   function's name and the stream's or table's name: `my-function/orders-stream`
   */
  readonly scope?: string | ((record: R) => string);
  /**
   * What the record asks for, fingerprinted: the same key with another
   * payload is refused (`FINGERPRINT_MISMATCH`), reported as failed and logged.
   * @default the body (SQS), the data (Kinesis), or `eventName`, `Keys`,
   *   `OldImage` and `NewImage` (DynamoDB Streams)
   */
  readonly payload?: (record: R) => unknown;
  /** How the handler's results are stored and read back. @default JSON */
  readonly codec?: ResultCodec<T>;
  /**
   * How many records of a standard SQS queue's batch run at once. Ordered
   * sources (FIFO queues, Kinesis, DynamoDB Streams) run one record at a
   * time whatever this says. Set 1 for a handler that must not run
   * concurrently with itself.
   * @default 10 (SQS's default batch size: a default batch runs all at once)
   */
  readonly concurrency?: number;
  /**
   * How long past the invocation's deadline a record's lease may hold, in
   * milliseconds: a record cut off by the function's timeout is taken over
   * by the next delivery that much after the deadline.
   * @default 1000
   */
  readonly leaseMarginMs?: number;
}

/**
 * {@link idempotentBatch}'s options: the batch's own, plus either the
 * engine's options (`store`, `leaseMs`, `ttlMs`, ...) or an engine to share
 * (`idem`, a `createIdempotency` result).
 */
export type BatchIdempotencyOptions<R extends BatchRecord, T> = BatchOptions<R, T> &
  (
    | (IdempotencyOptions & { readonly idem?: never })
    | {
        /** An engine shared with other handlers; the engine options are then its own. */
        readonly idem: Idempotency;
      }
  );

/** What Lambda reads back with `ReportBatchItemFailures` turned on. */
export interface BatchResponse {
  /** The records to deliver again, in the event's order, each once. */
  batchItemFailures: { itemIdentifier: string }[];
}

/** An SQS, Kinesis or DynamoDB Streams event as Lambda delivers it. */
export interface BatchEvent<R extends BatchRecord> {
  Records: R[];
}

/** The Lambda handler {@link idempotentBatch} returns. */
export type BatchHandler<R extends BatchRecord> = (
  event: BatchEvent<R>,
  context: Context,
) => Promise<BatchResponse>;
