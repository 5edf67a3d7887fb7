import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Store } from '@idem/core/store';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { redisStore } from '@idem/store-redis';
import type { Context } from 'aws-lambda';
import { Redis } from 'ioredis';

/**
 * What every function under test shares, configured by its environment
 * variables (set by the harness): the idem store (DynamoDB or Redis) and the
 * ledger in the test process that plans each run and counts side effects.
 */

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the harness passes it to every function`);
  return value;
};

/** A DynamoDB request, as the counting middleware logs it (one per HTTP attempt). */
export interface DynamoRequest {
  readonly op: string;
  /** The store's lifecycle step the request serves. */
  readonly phase: 'claim' | 'complete' | 'renew' | 'release' | 'read' | 'other';
  readonly outcome: string;
}

/** The log line prefix of a {@link DynamoRequest}; the harness attributes it by the runtime's request id. */
export const DYNAMO_LOG = 'idem-test dynamodb ';

function phaseOf(op: string, input: { ExpressionAttributeValues?: Record<string, unknown> }) {
  if (op === 'PutItem') return 'claim';
  if (op === 'UpdateItem')
    return input.ExpressionAttributeValues?.[':completed'] ? 'complete' : 'renew';
  if (op === 'DeleteItem') return 'release';
  if (op === 'GetItem') return 'read';
  return 'other';
}

/** Log every request the client sends: a deserialize-step middleware runs once per attempt. */
function countRequests(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = String(context.commandName).replace(/Command$/, '');
      const phase = phaseOf(op, (args.input ?? {}) as never);
      const log = (outcome: string) =>
        console.log(DYNAMO_LOG + JSON.stringify({ op, phase, outcome } satisfies DynamoRequest));
      try {
        const result = await next(args);
        log('ok');
        return result;
      } catch (error) {
        log((error as { name?: string }).name ?? 'error');
        throw error;
      }
    },
    // High priority wraps the SDK's deserializer, so a failed condition arrives here as its error.
    { step: 'deserialize', priority: 'high', name: 'idemTestRequestLog' },
  );
}

/** The store the harness chose, on a client created once per process (outside the handler, as on Lambda). */
export function storeFromEnv(): Store {
  const kind = env('IDEM_STORE');
  if (kind === 'dynamodb') {
    const client = new DynamoDBClient({ endpoint: env('DYNAMODB_ENDPOINT'), maxAttempts: 2 });
    countRequests(client);
    return dynamoDbStore({ client, tableName: env('IDEM_TABLE') });
  }
  if (kind === 'redis') {
    const client = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
    client.on('error', () => {});
    return redisStore({ client, prefix: env('IDEM_PREFIX') });
  }
  throw new Error(`IDEM_STORE=${kind}: use dynamodb or redis`);
}

/** The request's `Idempotency-Key`, from any HTTP event format: the ledger's key for its runs. */
export function keyHeader(event: {
  headers?: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, string[] | undefined> | null;
}): string {
  const pick = (names: Record<string, unknown>) =>
    Object.entries(names).find(([name]) => name.toLowerCase() === 'idempotency-key')?.[1];
  const value = pick(event.headers ?? {}) ?? pick(event.multiValueHeaders ?? {});
  return String(Array.isArray(value) ? value[0] : value);
}

/** How long past the invocation's deadline a lease may hold, as the test configured it. */
export const leaseMarginMs: number = Number(process.env.IDEM_LEASE_MARGIN_MS ?? 1_000);

async function report(path: string, key: string, requestId: string) {
  const response = await fetch(`${env('LEDGER_URL')}${path}`, {
    method: 'POST',
    body: JSON.stringify({ key, requestId, pid: process.pid }),
  });
  return (await response.json()) as { action: string; delayMs?: number };
}

/** What a run answers: which invocation and process did the work. */
export interface Work {
  readonly key: string;
  readonly requestId: string;
  readonly pid: number;
}

/**
 * The work of one run for `key`: report the start, do what the ledger
 * says (wait, fail, exit the process or hang), then record the side effect.
 * Returns what a handler would answer.
 */
export async function perform(key: string, context: Pick<Context, 'awsRequestId'>): Promise<Work> {
  const step = await report('/run', key, context.awsRequestId);
  if (step.delayMs) await new Promise((resolve) => setTimeout(resolve, step.delayMs));
  if (step.action === 'exit') process.exit(1);
  if (step.action === 'fail') throw new Error(`planned failure of ${key}`);
  await report('/effect', key, context.awsRequestId);
  return { key, requestId: context.awsRequestId, pid: process.pid };
}
