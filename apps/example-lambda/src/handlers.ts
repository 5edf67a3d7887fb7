import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { idempotency, idempotentBatch } from '@idem/lambda';
import { dynamoDbStore } from '@idem/store-dynamodb';
import type { APIGatewayProxyEventV2, SQSRecord } from 'aws-lambda';
import { applyCredit, type Credit, charge } from './ledger.ts';

// Built once per execution environment, at module scope: warm invocations
// reuse the client's connections and the engine.
const client = new DynamoDBClient({
  // Fail fast: a store call that hangs would hold the invocation until its timeout.
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
});
// IDEM_TABLE is set by template.yaml; a function deployed without it fails
// at init with a ConfigurationError naming the option.
const store = dynamoDbStore({ client, tableName: process.env.IDEM_TABLE as string });

const idem = idempotency<APIGatewayProxyEventV2>({
  store,
  // Keys never cross scopes. The merchant header stands in for
  // authentication: behind a JWT authorizer, use the token's subject claim.
  scope: (event) => event.headers['x-merchant'] ?? '',
});

const parsed = (body: string | undefined): Record<string, unknown> => {
  try {
    return JSON.parse(body ?? '{}') ?? {};
  } catch {
    return {};
  }
};

const json = (statusCode: number, body: unknown) => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * `POST /payments` behind an API Gateway HTTP API (payload 2.0): charges the
 * card once per `Idempotency-Key`; a retry gets the first answer back with
 * `Idempotent-Replayed: true`, a duplicate still running a `409`.
 */
export const payments = idem(async (event: APIGatewayProxyEventV2) => {
  if (!event.headers['x-merchant']) return json(401, { error: 'send an X-Merchant header' });
  const { reference, amountCents } = parsed(event.body);
  if (typeof reference !== 'string' || !Number.isInteger(amountCents) || Number(amountCents) <= 0) {
    return json(400, { error: 'send {"reference": string, "amountCents": positive integer}' });
  }
  return json(201, await charge({ reference, amountCents: Number(amountCents) }));
});

/**
 * The credits queue's consumer (SQS, `ReportBatchItemFailures` on): each
 * credit is applied once per `creditId`, however often the queue or the
 * producer delivers it; a credit that throws is reported in
 * `batchItemFailures` and comes back.
 */
export const credits = idempotentBatch(
  async (record: SQSRecord) => {
    const credit = JSON.parse(record.body) as Credit;
    await applyCredit(credit);
    return { applied: credit.creditId };
  },
  // The producer's id, not the message's: a SendMessage retried after a lost
  // reply makes a second message with the same credit.
  { store, key: '/creditId' },
);
