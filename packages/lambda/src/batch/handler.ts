import {
  type Claim,
  ConfigurationError,
  createIdempotency,
  type Idempotency,
  type IdempotencyLogger,
  type IdempotencyOptions,
  isIdempotencyError,
  type ResultCodec,
} from '@idem/core';
import { defineOptions, fn, option, rule, whole } from '@idem/core/store';
import type { Context } from 'aws-lambda';
import { invocationLeaseUntil } from '../lease.js';
import { engineOptionsOf, leaseMarginOf } from '../options.js';
import { KeyProblem, keyReader } from './key.js';
import type {
  BatchHandler,
  BatchIdempotencyOptions,
  BatchResponse,
  RecordHandler,
} from './options.js';
import { inGroups, inOrder } from './order.js';
import { type BatchRecord, type BatchSource, sourceOf } from './sources.js';

const ENTRY = 'idem: idempotentBatch()';

const REDELIVERED =
  'reported as failed, so Lambda delivers it again (and, past the retries you allow, to your dead-letter queue or on-failure destination).';

const resolve = defineOptions({
  idem: option(
    rule<Idempotency>(
      'an engine made by createIdempotency() from @idem/core',
      (v) => typeof (v as Idempotency | null)?.run === 'function',
    ),
  ),
  // keyReader checks a pointer's syntax and says what it expects.
  key: option(
    rule<unknown>(
      "a JSON Pointer such as '/orderId', or a function of the record",
      (v) => typeof v === 'string' || typeof v === 'function',
    ),
  ),
  scope: option(
    rule<string | ((record: never) => string)>(
      'a string, or a function of the record returning one',
      (v) => typeof v === 'string' || typeof v === 'function',
    ),
  ),
  payload: option(fn<(record: never) => unknown>('of the record, such as (r) => r.body')),
  codec: option(
    rule<ResultCodec<unknown>>(
      'a codec with encode(value) and decode(bytes) methods',
      (v) =>
        typeof (v as ResultCodec<unknown> | null)?.encode === 'function' &&
        typeof (v as ResultCodec<unknown>).decode === 'function',
    ),
  ),
  concurrency: option(whole('records', 1), 10),
});

const BATCH_OPTIONS: ReadonlySet<string> = new Set([
  'idem',
  'key',
  'scope',
  'payload',
  'codec',
  'concurrency',
]);

/**
 * Wrap a record handler into a Lambda handler for SQS (standard and FIFO),
 * Kinesis Data Streams and DynamoDB Streams events, for event source
 * mappings with `ReportBatchItemFailures` turned on. Each record runs at
 * most once per key; the handler resolves to `{ batchItemFailures }` naming
 * the records Lambda must deliver again:
 *
 * - a record whose handler threw, whose key is in flight in another
 *   invocation, whose key was used before with another payload (logged), whose
 *   key cannot be read (logged), or that met a store failure;
 * - on an ordered source (a FIFO queue, a Kinesis or DynamoDB stream), the
 *   first such record and every record after it, none of which runs.
 *
 * A redelivered record whose handler already succeeded is not run again
 * (its stored result is replayed), so a batch delivered twice runs each
 * record once. The lease of each record ends at the invocation's deadline
 * plus `leaseMarginMs`, so a record cut off by a timeout is taken over by
 * its next delivery.
 *
 * Without `ReportBatchItemFailures` on the event source mapping, Lambda
 * ignores the failures reported and acknowledges the whole batch.
 *
 * @example
 * ```ts
 * export const handler = idempotentBatch(
 *   async (record: SQSRecord) => applyCredit(JSON.parse(record.body)),
 *   { store: dynamoDbStore({ client, tableName: 'idem' }) },
 * );
 * ```
 */
export function idempotentBatch<R extends BatchRecord = BatchRecord, T = unknown>(
  handler: RecordHandler<R, T>,
  options: BatchIdempotencyOptions<R, T>,
): BatchHandler<R> {
  if (typeof handler !== 'function') {
    throw new ConfigurationError(
      `${ENTRY}: pass the record handler first, such as idempotentBatch(async (record) => { ... }, { store }).`,
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError(
      `${ENTRY}: pass an options object with a store, such as idempotentBatch(handler, { store }), or with an engine: { idem }.`,
    );
  }
  const { leaseMarginMs: margin, ...rest } = options as { leaseMarginMs?: unknown };
  const leaseMarginMs = leaseMarginOf(margin, ENTRY);
  const batch = Object.fromEntries(
    Object.entries(rest).filter(([name]) => BATCH_OPTIONS.has(name)),
  );
  const resolved = resolve(batch, ENTRY);
  const engine = engineOptionsOf(rest, BATCH_OPTIONS, resolved.idem, ENTRY);
  const idem = resolved.idem ?? createIdempotency(engine as unknown as IdempotencyOptions);
  const run = recordRunner<R, T>(idem, handler, {
    key: keyReader<R>(ENTRY, resolved.key as BatchIdempotencyOptions<R, T>['key']),
    scope: resolved.scope as string | ((record: R) => string) | undefined,
    payload: resolved.payload as ((record: R) => unknown) | undefined,
    codec: resolved.codec as ResultCodec<T> | undefined,
  });
  const { concurrency } = resolved;

  return async (event, context): Promise<BatchResponse> => {
    const { source, records } = sourceOf(event);
    if (source === undefined) return { batchItemFailures: [] };
    const leaseUntil = invocationLeaseUntil(context, leaseMarginMs);
    const attempt = (record: BatchRecord) => run(record as R, source, context, leaseUntil);
    const failed = source.ordered
      ? await inOrder(records, attempt)
      : await inGroups(records, source.identifier, concurrency, attempt);
    const reported = new Set<string>();
    for (const record of failed) reported.add(source.identifier(record) as string);
    return { batchItemFailures: [...reported].map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

interface Readers<R extends BatchRecord, T> {
  readonly key: (record: R, source: BatchSource) => string | KeyProblem;
  readonly scope: string | ((record: R) => string) | undefined;
  readonly payload: ((record: R) => unknown) | undefined;
  readonly codec: ResultCodec<T> | undefined;
}

/**
 * Runs one record through the engine and says whether it is done (`true`:
 * acknowledge it) or must be delivered again.
 */
function recordRunner<R extends BatchRecord, T>(
  idem: Idempotency,
  handler: RecordHandler<R, T>,
  readers: Readers<R, T>,
) {
  const logger: IdempotencyLogger | false = idem.options.logger;
  const warn = (source: BatchSource, record: R, why: string, then = REDELIVERED) => {
    if (logger)
      logger.warn(`${ENTRY}: ${source.name} record ${source.identifier(record)} ${why}; ${then}`);
  };

  return async (
    record: R,
    source: BatchSource,
    context: Context,
    leaseUntil: number | undefined,
  ): Promise<boolean> => {
    // 'threw' tells the handler's own failure (even an idem error from an
    // inner run) from the engine's answers, which decide acknowledgement.
    const state: { handled: 'not yet' | 'returned' | 'threw' } = { handled: 'not yet' };
    try {
      const key = readers.key(record, source);
      if (key instanceof KeyProblem) {
        warn(source, record, key.reason);
        return false;
      }
      const scope = readers.scope;
      await idem.run(
        key,
        async (claim: Claim) => {
          try {
            const value = await handler(record, context, claim);
            state.handled = 'returned';
            return value;
          } catch (error) {
            state.handled = 'threw';
            throw error;
          }
        },
        {
          scope:
            typeof scope === 'function'
              ? scope(record)
              : (scope ?? defaultScope(source, record, context)),
          payload: readers.payload ? readers.payload(record) : source.payload(record),
          ...(readers.codec && { codec: readers.codec }),
          ...(leaseUntil !== undefined && { leaseUntil }),
        },
      );
      return true;
    } catch (error) {
      if (state.handled === 'threw') return false;
      // It ran once and its result is not kept: running it again is what
      // idem exists to prevent, and every redelivery would get this answer.
      if (isIdempotencyError(error, 'RESPONSE_NOT_STORED')) return true;
      if (isIdempotencyError(error, 'FINGERPRINT_MISMATCH')) {
        warn(source, record, 'reuses its key with a different payload');
        return false;
      }
      if (isIdempotencyError(error, 'CONFIGURATION')) {
        // A scope or payload function returned what run() refuses: a bug to
        // fix, which every redelivery meets again.
        warn(source, record, `could not run: ${error.message}`);
        return false;
      }
      if (state.handled === 'returned' && !isIdempotencyError(error)) {
        // The handler returned, then its result could not be encoded: the
        // engine recorded "ran, not stored", so a redelivery acknowledges it.
        warn(
          source,
          record,
          `ran, but its result could not be stored (${String(error)})`,
          'acknowledged, so it does not run again.',
        );
        return true;
      }
      return false;
    }
  };
}

/** See {@link BatchOptions.scope}. */
function defaultScope(source: BatchSource, record: BatchRecord, context: Context): string {
  const origin = source.origin(record);
  const functionName = (context as Partial<Context> | undefined)?.functionName;
  return source.fanOut && typeof functionName === 'string' && functionName !== ''
    ? `${functionName}/${origin}`
    : origin;
}
