import { isIdempotencyError } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import type { DynamoDBStreamEvent, KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lambdaContext, sample } from '../../test/batch/events.js';
import { idempotentBatch } from './handler.js';
import { sourceOf } from './sources.js';

const sqs = sample<SQSEvent>('sqs');
const fifo = sample<SQSEvent>('sqs-fifo');
const kinesis = sample<KinesisStreamEvent>('kinesis');
const dynamodb = sample<DynamoDBStreamEvent>('dynamodb');

describe("AWS's sample events", () => {
  it.each([
    [
      'sqs',
      sqs,
      false,
      ['059f36b4-87a3-44ab-83d2-661975830a7d', '2e1424d4-f796-459a-8184-9c92662be6da'],
    ],
    ['sqs-fifo', fifo, true, ['11d6ee51-4cc7-4302-9e22-7cd8afdaadf5']],
    [
      'kinesis',
      kinesis,
      true,
      [
        '49590338271490256608559692538361571095921575989136588898',
        '49590338271490256608559692540925702759324208523137515618',
      ],
    ],
    ['dynamodb', dynamodb, true, ['111', '222']],
  ] as const)(
    '%s: the source, its order, and the identifiers Lambda expects back',
    (name, event, ordered, ids) => {
      const { source, records } = sourceOf(event);
      expect(source?.name).toBe(name);
      expect(source?.ordered).toBe(ordered);
      expect(records.map((r) => source?.identifier(r))).toEqual(ids);
    },
  );

  it('default keys are the records’ own ids, stable on redelivery', () => {
    const key = (event: unknown) => {
      const { source, records } = sourceOf(event);
      return records.map((r) => source?.key(r));
    };
    expect(key(sqs)).toEqual(sqs.Records.map((r) => r.messageId));
    expect(key(kinesis)).toEqual([
      'shardId-000000000006:49590338271490256608559692538361571095921575989136588898',
      'shardId-000000000006:49590338271490256608559692540925702759324208523137515618',
    ]);
    expect(key(dynamodb)).toEqual(['1', '2']);
  });

  it('names the queue, stream or table each record came from', () => {
    const origin = (event: unknown) => {
      const { source, records } = sourceOf(event);
      return source?.origin(records[0]!);
    };
    expect(origin(sqs)).toBe('my-queue');
    expect(origin(fifo)).toBe('fifo.fifo');
    expect(origin(kinesis)).toBe('lambda-stream');
    expect(origin(dynamodb)).toBe('TestTable');
  });
});

describe('events idempotentBatch() refuses, naming the fix', () => {
  const handler = idempotentBatch(async () => null, { store: memoryStore(), logger: false });
  const refused = async (event: unknown, message: RegExp) => {
    const error = await handler(event as SQSEvent, lambdaContext()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    expect((error as Error).message).toMatch(message);
  };

  it('an event without Records, such as an API Gateway request', async () => {
    await refused({ httpMethod: 'POST', body: '{}' }, /no Records array.*use idempotency\(\)/);
  });

  it('records of another service, such as SNS or S3', async () => {
    await refused(
      { Records: [{ EventSource: 'aws:sns', Sns: {} }] },
      /eventSource is null.*makeIdempotent\(\)/,
    );
    await refused({ Records: [{ eventSource: 'aws:s3', s3: {} }] }, /"aws:s3"/);
  });

  it('a mix of sources in one event', async () => {
    await refused({ Records: [...sqs.Records, ...kinesis.Records] }, /"aws:sqs", "aws:kinesis"/);
  });

  it('a tumbling-window event, whose answer must carry state', async () => {
    await refused(
      { ...kinesis, window: { start: '', end: '' }, state: {}, isFinalInvokeForWindow: false },
      /TumblingWindowInSeconds/,
    );
  });

  it('a record without the identifier Lambda needs back', async () => {
    const [record] = kinesis.Records;
    await refused(
      { Records: [{ ...record, kinesis: { ...record!.kinesis, sequenceNumber: undefined } }] },
      /kinesis\.sequenceNumber/,
    );
  });

  it('answers an empty batch with no failures', async () => {
    expect(await handler({ Records: [] }, lambdaContext())).toEqual({ batchItemFailures: [] });
  });
});

describe('options idempotentBatch() refuses at construction', () => {
  const store = memoryStore();
  it.each([
    [
      { store, concurrency: 0 },
      /option "concurrency" must be a whole number of records, 1 or more/,
    ],
    [{ store, key: 'orderId' }, /JSON Pointer \(RFC 6901\)/],
    [{ store, key: 42 }, /option "key" must be a JSON Pointer/],
    [{ store, scope: 7 }, /option "scope" must be a string, or a function/],
    [{ store, leaseMarginMs: -1 }, /option "leaseMarginMs" must be a number of milliseconds/],
    [{ store, codec: {} }, /option "codec" must be a codec/],
    [
      { idem: { run: () => null }, leaseMs: 1_000 },
      /options leaseMs belong to the engine: pass them to createIdempotency\(\)/,
    ],
    [{ stor: store }, /did you mean "store"/],
    ['store', /pass an options object/],
  ])('%o', (options, message) => {
    expect(() => idempotentBatch(async () => null, options as never)).toThrow(message);
  });

  it('a missing record handler', () => {
    expect(() => idempotentBatch(undefined as never, { store })).toThrow(
      /pass the record handler first/,
    );
  });
});
