import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { reachServer } from '@idem/conformance';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { startDynalite } from '@idem/test-stores';
import { Redis } from 'ioredis';

/** The stores the functions under test run on: the Lambda default (DynamoDB) and Redis. */
export type StoreName = 'dynamodb' | 'redis';

/** A store's server, ready for functions: the environment variables that point them at it. */
export interface StoreBackend {
  readonly name: StoreName;
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

// The SDK warns once per process that its 2027 releases will need Node 22; noise in tests.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * DynamoDB at DYNAMODB_ENDPOINT, or else a dynalite started here (on an
 * ephemeral loopback port, so the function processes reach it over HTTP
 * like any DynamoDB), with a table of the run's own.
 */
async function openDynamoDb(run: string): Promise<StoreBackend | string> {
  const configured = process.env.DYNAMODB_ENDPOINT;
  let endpoint = configured ?? '';
  let stop = async () => {};
  if (!configured) ({ endpoint, close: stop } = await startDynalite());
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  const tableName = `idem-test-lambda-${run}`;
  const up = await reachServer('DynamoDB', endpoint, () =>
    dynamoDbStore({ client, tableName }).createTable(),
  );
  client.destroy();
  if (!up) {
    await stop();
    return `DynamoDB is not reachable at ${endpoint}`;
  }
  return {
    name: 'dynamodb',
    env: { IDEM_STORE: 'dynamodb', DYNAMODB_ENDPOINT: endpoint, IDEM_TABLE: tableName },
    close: stop,
  };
}

/** Redis at REDIS_URL (default 127.0.0.1:6379) under a prefix of the run's own, deleted on close. */
async function openRedis(run: string): Promise<StoreBackend | string> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => {});
  const up = await reachServer('Redis', url.replace(/\/\/[^@/]*@/, '//'), () => client.connect());
  if (!up) {
    client.disconnect();
    return `Redis is not reachable at ${url}`;
  }
  const prefix = `idem-test:lambda-${run}:`;
  return {
    name: 'redis',
    env: { IDEM_STORE: 'redis', REDIS_URL: url, IDEM_PREFIX: prefix },
    async close() {
      for (let cursor = '0'; ; ) {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        if (keys.length > 0) await client.unlink(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
      await client.quit();
    },
  };
}

/** Open a store for the functions, or say why it is skipped (never under CI=true, where it throws). */
export function openStore(name: StoreName, label: string): Promise<StoreBackend | string> {
  const run = `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return name === 'dynamodb' ? openDynamoDb(run) : openRedis(run);
}
