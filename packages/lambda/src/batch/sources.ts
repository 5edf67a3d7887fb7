import { ConfigurationError } from '@idem/core';
import type { DynamoDBRecord, KinesisStreamRecord, SQSRecord } from 'aws-lambda';

/** A record of an SQS, Kinesis Data Streams or DynamoDB Streams event. */
export type BatchRecord = SQSRecord | KinesisStreamRecord | DynamoDBRecord;

/** The event sources `idempotentBatch` reads, told apart by the records' `eventSource`. */
export type BatchSourceName = 'sqs' | 'sqs-fifo' | 'kinesis' | 'dynamodb';

/** What idem reads of one event source: a table row per source, not branches in the handler. */
export interface BatchSource {
  readonly name: BatchSourceName;
  /**
   * Whether Lambda needs the records handled in order: FIFO queues keep a
   * message group's order only if nothing after a failure is acknowledged,
   * and streams resume from the failed record's sequence number.
   */
  readonly ordered: boolean;
  /** What Lambda expects back in `batchItemFailures` for this record, exactly as in the event. */
  identifier(record: BatchRecord): string | undefined;
  /** The default key: the record's own id, the same on every redelivery. */
  key(record: BatchRecord): string | undefined;
  /** The default fingerprinted payload: what the record asks for. */
  payload(record: BatchRecord): unknown;
  /** What a JSON Pointer key reads: the parsed body or data (throws when it is not JSON). */
  document(record: BatchRecord): unknown;
  /** The queue, stream or table the record came from, from its ARN. */
  origin(record: BatchRecord): string;
  /**
   * Whether every function reading this source sees every record (streams:
   * each event source mapping is its own reader), so the default scope names
   * the function too; queue consumers compete for messages instead.
   */
  readonly fanOut: boolean;
}

const sqs = (record: BatchRecord) => record as SQSRecord;
const kinesis = (record: BatchRecord) => record as KinesisStreamRecord;
const dynamodb = (record: BatchRecord) => record as DynamoDBRecord;

/** The last `:`-separated part of an ARN, with the resource type before a `/` removed. */
function arnResource(arn: unknown): string {
  if (typeof arn !== 'string') return '';
  const resource = arn.split(':').slice(5).join(':');
  return resource === '' ? arn : resource;
}

const SQS: Omit<BatchSource, 'name' | 'ordered'> = {
  identifier: (record) => sqs(record).messageId,
  key: (record) => sqs(record).messageId,
  payload: (record) => sqs(record).body,
  document: (record) => JSON.parse(sqs(record).body),
  // arn:aws:sqs:us-east-2:123456789012:my-queue
  origin: (record) => arnResource(sqs(record).eventSourceARN),
  fanOut: false,
};

/** The sources by their records' `eventSource`. */
const SOURCES: Readonly<Record<string, (record: BatchRecord) => BatchSource>> = {
  'aws:sqs': (record) =>
    sqs(record).eventSourceARN?.endsWith('.fifo')
      ? { name: 'sqs-fifo', ordered: true, ...SQS }
      : { name: 'sqs', ordered: false, ...SQS },
  'aws:kinesis': () => KINESIS,
  'aws:dynamodb': () => DYNAMODB,
};

const KINESIS: BatchSource = {
  name: 'kinesis',
  ordered: true,
  identifier: (record) => kinesis(record).kinesis?.sequenceNumber,
  // shardId-000000000006:49590338271490256608559692538361571095921575989136588898:
  // a sequence number is unique within its shard only.
  key: (record) => kinesis(record).eventID,
  payload: (record) => kinesis(record).kinesis?.data,
  document: (record) =>
    JSON.parse(Buffer.from(kinesis(record).kinesis.data, 'base64').toString('utf8')),
  // arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream
  origin: (record) => arnResource(kinesis(record).eventSourceARN).split('/')[1] ?? '',
  fanOut: true,
};

const DYNAMODB: BatchSource = {
  name: 'dynamodb',
  ordered: true,
  identifier: (record) => dynamodb(record).dynamodb?.SequenceNumber,
  key: (record) => dynamodb(record).eventID,
  payload: (record) => {
    const { eventName, dynamodb: change } = dynamodb(record);
    return {
      eventName,
      Keys: change?.Keys,
      OldImage: change?.OldImage,
      NewImage: change?.NewImage,
    };
  },
  document: (record) => dynamodb(record).dynamodb,
  // arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/stream/2015-05-11T21:21:33.291
  origin: (record) => arnResource(dynamodb(record).eventSourceARN).split('/')[1] ?? '',
  fanOut: true,
};

const ENTRY = 'idem: idempotentBatch()';

const FIX =
  "idempotentBatch() handles SQS, Kinesis Data Streams and DynamoDB Streams events (records with eventSource 'aws:sqs', 'aws:kinesis' or 'aws:dynamodb'): use idempotency() for API Gateway, ALB and Function URL events, and makeIdempotent() for any other event.";

/**
 * The source of an event's records, or a `ConfigurationError` naming the fix
 * when the event is not a batch idem reads: no `Records`, an unknown or
 * mixed `eventSource`, a tumbling-window event (whose response must carry
 * `state`), or records without the identifier Lambda expects back.
 */
export function sourceOf(event: unknown): {
  readonly source: BatchSource | undefined;
  readonly records: readonly BatchRecord[];
} {
  const records = (event as { Records?: unknown } | null | undefined)?.Records;
  if (!Array.isArray(records)) {
    throw new ConfigurationError(`${ENTRY}: the event has no Records array. ${FIX}`);
  }
  if ('isFinalInvokeForWindow' in (event as object)) {
    throw new ConfigurationError(
      `${ENTRY}: this is a tumbling-window event, whose response must carry the window's state; idem does not keep window state. Remove TumblingWindowInSeconds from the event source mapping, or handle the window yourself with makeIdempotent() per record.`,
    );
  }
  if (records.length === 0) return { source: undefined, records };
  const sources = new Set(records.map((r) => (r as { eventSource?: unknown })?.eventSource));
  const [eventSource] = sources;
  const make = typeof eventSource === 'string' ? SOURCES[eventSource] : undefined;
  if (sources.size > 1 || make === undefined) {
    const seen = [...sources].map((s) => JSON.stringify(s ?? null)).join(', ');
    throw new ConfigurationError(`${ENTRY}: the records' eventSource is ${seen}. ${FIX}`);
  }
  const source = make(records[0] as BatchRecord);
  for (const record of records as BatchRecord[]) {
    if (typeof source.identifier(record) !== 'string' || source.identifier(record) === '') {
      throw new ConfigurationError(
        `${ENTRY}: a ${source.name} record has no ${IDENTIFIER[source.name]}, which Lambda needs back to report it as failed. Pass the event as Lambda delivers it.`,
      );
    }
  }
  return { source, records: records as BatchRecord[] };
}

/** Where each source's identifier lives, for messages. */
export const IDENTIFIER: Readonly<Record<BatchSourceName, string>> = {
  sqs: 'messageId',
  'sqs-fifo': 'messageId',
  kinesis: 'kinesis.sequenceNumber',
  dynamodb: 'dynamodb.SequenceNumber',
};
