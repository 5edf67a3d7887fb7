import { type BatchHandler, type BatchRecord, idempotentBatch } from '@idem/lambda';
import type { Context } from 'aws-lambda';
import { leaseMarginMs, perform, storeFromEnv } from './world.js';

/** The test's id of a record: in the SQS body, the Kinesis data, or the DynamoDB change's new image. */
function idOf(record: BatchRecord): string {
  if ('body' in record) return JSON.parse(record.body).id;
  if ('kinesis' in record)
    return JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString()).id;
  return String(record.dynamodb?.NewImage?.Message?.S);
}

/** One handler for SQS (standard and FIFO), Kinesis and DynamoDB Streams batches, with the default keys. */
export const handler: BatchHandler<BatchRecord> = idempotentBatch(
  (record: BatchRecord, context: Context) => perform(idOf(record), context),
  { store: storeFromEnv(), leaseMarginMs },
);
