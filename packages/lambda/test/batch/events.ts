import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type {
  Context,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  KinesisStreamEvent,
  KinesisStreamRecord,
  SQSEvent,
  SQSRecord,
} from 'aws-lambda';
import type { BatchEvent, BatchRecord, BatchSourceName } from '../../src/index.js';

/** One of AWS's sample events (test/fixtures/events/batch, sources in its README). */
export function sample<E>(name: 'sqs' | 'sqs-fifo' | 'kinesis' | 'dynamodb'): E {
  const url = new URL(`../fixtures/events/batch/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as E;
}

/** What a test says about one record: its id (unique in the test) and body. */
export interface RecordSpec {
  readonly id: string;
  readonly body: string;
}

/** How a test builds events of one source and reads them back. */
export interface SourceCase {
  readonly name: BatchSourceName;
  readonly ordered: boolean;
  /** An event of the source, shaped like AWS's sample, with these records in order. */
  event(records: readonly RecordSpec[]): BatchEvent<BatchRecord>;
  /** The record's `batchItemFailures` identifier. */
  identifier(record: BatchRecord): string;
  /** The body or data the test put in, decoded. */
  body(record: BatchRecord): string;
}

let sequence = 10n ** 20n;
/** Increasing sequence numbers, as a shard or FIFO queue hands them out. */
const nextSequence = () => {
  sequence += 1000n;
  return String(sequence);
};

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

function sqsCase(fifo: boolean): SourceCase {
  const template = sample<SQSEvent>(fifo ? 'sqs-fifo' : 'sqs').Records[0] as SQSRecord;
  return {
    name: fifo ? 'sqs-fifo' : 'sqs',
    ordered: fifo,
    event: (records) => ({
      Records: records.map(
        ({ id, body }): SQSRecord => ({
          ...template,
          messageId: id,
          receiptHandle: `AQEB${randomUUID()}`,
          body,
          md5OfBody: md5(body),
          attributes: {
            ...template.attributes,
            ...(fifo && { SequenceNumber: nextSequence(), MessageDeduplicationId: id }),
          },
        }),
      ),
    }),
    identifier: (record) => (record as SQSRecord).messageId,
    body: (record) => (record as SQSRecord).body,
  };
}

const kinesisTemplate = sample<KinesisStreamEvent>('kinesis').Records[0] as KinesisStreamRecord;
const dynamodbTemplate = sample<DynamoDBStreamEvent>('dynamodb').Records[0] as DynamoDBRecord;

/** Sequence numbers by test id, so a redelivered record keeps its own. */
const sequenceOf = new Map<string, string>();
const sequenceFor = (id: string) => {
  const seq = sequenceOf.get(id) ?? nextSequence();
  sequenceOf.set(id, seq);
  return seq;
};

export const SOURCES: readonly SourceCase[] = [
  sqsCase(false),
  sqsCase(true),
  {
    name: 'kinesis',
    ordered: true,
    event: (records) => ({
      Records: records.map(({ id, body }): KinesisStreamRecord => {
        const seq = sequenceFor(id);
        return {
          ...kinesisTemplate,
          eventID: `shardId-000000000006:${seq}`,
          kinesis: {
            ...kinesisTemplate.kinesis,
            sequenceNumber: seq,
            data: Buffer.from(body).toString('base64'),
          },
        };
      }),
    }),
    identifier: (record) => (record as KinesisStreamRecord).kinesis.sequenceNumber,
    body: (record) =>
      Buffer.from((record as KinesisStreamRecord).kinesis.data, 'base64').toString('utf8'),
  },
  {
    name: 'dynamodb',
    ordered: true,
    event: (records) => ({
      Records: records.map(
        ({ id, body }): DynamoDBRecord => ({
          ...dynamodbTemplate,
          eventID: id,
          dynamodb: {
            ...dynamodbTemplate.dynamodb,
            SequenceNumber: sequenceFor(id),
            NewImage: { ...dynamodbTemplate.dynamodb?.NewImage, Message: { S: body } },
          },
        }),
      ),
    }),
    identifier: (record) => (record as DynamoDBRecord).dynamodb?.SequenceNumber as string,
    body: (record) => (record as DynamoDBRecord).dynamodb?.NewImage?.Message?.S as string,
  },
];

/**
 * A Lambda context as the runtime hands it over, with its deadline
 * `timeoutMs` from now.
 */
export function lambdaContext(functionName = 'batch-test', timeoutMs = 60_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-2:123456789012:function:${functionName}`,
    memoryLimitInMB: '128',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/12/08/[$LATEST]0123456789abcdef0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** Test-unique record ids: `n` of them under `tag`. */
export function specs(tag: string, n: number, body = (i: number) => `{"n":${i}}`): RecordSpec[] {
  const run = randomUUID().slice(0, 8);
  return Array.from({ length: n }, (_, i) => ({ id: `${tag}-${run}-${i}`, body: body(i) }));
}
