/**
 * The stores each library runs on, opened inside the server process. Every
 * client is created here, after the wire counter is installed, so its
 * commands are counted.
 */
import { createRequire } from 'node:module';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Store } from '@idem/core';
import type { ServerConfig } from '../config.js';
import type { NodeIdempotency, Payment, Receipt } from './context.js';

const require = createRequire(import.meta.url);

/** Records kept by the memory stores: large enough that fresh keys never evict during a run. */
export const MEMORY_MAX_RECORDS = 2_000_000;

export interface Opened<T> {
  readonly value: T;
  /** Records held in this process, where the library lets us see them. */
  readonly records?: () => number;
  close(): Promise<void>;
}

// Imported when used, so a server loads only the clients its configuration needs.
export async function dynamoClient(config: ServerConfig): Promise<DynamoDBClient> {
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  return new DynamoDBClient({
    endpoint: config.dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 10_000 },
  });
}

export async function openIdemStore(config: ServerConfig): Promise<Opened<Store>> {
  switch (config.unit.store) {
    case 'memory': {
      const { memoryStore } = await import('@idem/store-memory');
      const store = memoryStore({ maxRecords: MEMORY_MAX_RECORDS });
      return { value: store, records: () => store.size, close: async () => {} };
    }
    case 'redis': {
      if (process.env.IDEM_BENCH_REDIS_CLIENT === 'node-redis') {
        const { createClient } = await import('@redis/client');
        // The store refuses node-redis's offline queue (see its README).
        const client = await createClient({
          url: config.redisUrl,
          disableOfflineQueue: true,
        }).connect();
        const { redisStore } = await import('@idem/store-redis');
        const store = redisStore({ client, prefix: `idem-bench:${config.runId}:` });
        return { value: store, close: async () => void (await client.quit()) };
      }
      const { Redis } = await import('ioredis');
      // The client options the store's README recommends.
      const client = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
      await client.ping();
      const { redisStore } = await import('@idem/store-redis');
      const store = redisStore({ client, prefix: `idem-bench:${config.runId}:` });
      return { value: store, close: async () => void (await client.quit()) };
    }
    case 'postgres': {
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({
        connectionString: config.databaseUrl,
        max: 10,
        idleTimeoutMillis: 0,
        connectionTimeoutMillis: 5_000,
      });
      pool.on('error', () => {});
      const { postgresStore } = await import('@idem/store-postgres');
      const store = postgresStore({ pool, table: config.pgTable });
      return { value: store, close: () => pool.end() };
    }
    case 'dynamodb': {
      const client = await dynamoClient(config);
      const { dynamoDbStore } = await import('@idem/store-dynamodb');
      const store = dynamoDbStore({ client, tableName: config.dynamoTable });
      return { value: store, close: async () => client.destroy() };
    }
    default:
      throw new Error(`idem has no store ${config.unit.store}`);
  }
}

/** express-idempotency's data adapter: its in-memory default, or its Redis adapter. */
export async function openExpressIdempotencyAdapter(
  config: ServerConfig,
): Promise<Opened<unknown>> {
  if (config.unit.store === 'memory') {
    // The adapter the middleware creates by default, constructed here so its records can be counted.
    const { InMemoryDataAdapter } =
      require('express-idempotency/dist/defaults/inMemoryDataAdapter') as {
        InMemoryDataAdapter: new () => { idempotencyResources: unknown[] };
      };
    const adapter = new InMemoryDataAdapter();
    return {
      value: adapter,
      records: () => adapter.idempotencyResources.length,
      close: async () => {},
    };
  }
  const module = require('express-idempotency-redis-adapter') as {
    default: new (options: {
      connectionConfig: { url: string };
    }) => {
      connect(): Promise<void>;
      disconnect(): Promise<void>;
    };
  };
  const adapter = new module.default({ connectionConfig: { url: config.redisUrl } });
  await adapter.connect();
  return { value: adapter, close: () => adapter.disconnect() };
}

export async function openNodeIdempotency(config: ServerConfig): Promise<Opened<NodeIdempotency>> {
  const { Idempotency } = await import('@node-idempotency/core');
  const options = { cacheKeyPrefix: `node-idempotency-bench-${config.runId}` };
  if (config.unit.store === 'memory') {
    const { MemoryStorageAdapter } = await import('@node-idempotency/storage-adapter-memory');
    const storage = new MemoryStorageAdapter();
    const cache = (storage as unknown as { cache: Map<string, unknown> }).cache;
    return {
      value: new Idempotency(storage, options) as unknown as NodeIdempotency,
      records: () => cache.size,
      close: async () => {},
    };
  }
  const { RedisStorageAdapter } = await import('@node-idempotency/storage-adapter-redis');
  const storage = new RedisStorageAdapter({ url: config.redisUrl });
  await storage.connect();
  return {
    value: new Idempotency(storage, options) as unknown as NodeIdempotency,
    close: () => storage.disconnect(),
  };
}

/** The charge wrapped with Powertools' `makeIdempotent`, on its Redis or DynamoDB persistence. */
export async function openPowertools(
  config: ServerConfig,
  charge: (body: Payment, key: () => string | undefined) => Receipt | Promise<Receipt>,
): Promise<Opened<PowertoolsCharges>> {
  const { makeIdempotent, IdempotencyConfig } = await import('@aws-lambda-powertools/idempotency');
  let persistenceStore: import('@aws-lambda-powertools/idempotency/persistence').BasePersistenceLayer;
  let close: () => Promise<void>;
  if (config.unit.store === 'redis') {
    const { createClient } = await import('@redis/client');
    const { CachePersistenceLayer } = await import('@aws-lambda-powertools/idempotency/cache');
    const client = await createClient({ url: config.redisUrl }).connect();
    persistenceStore = new CachePersistenceLayer({ client: client as never });
    close = async () => void (await client.close());
  } else {
    const { DynamoDBPersistenceLayer } = await import(
      '@aws-lambda-powertools/idempotency/dynamodb'
    );
    const client = await dynamoClient(config);
    persistenceStore = new DynamoDBPersistenceLayer({
      tableName: config.powertoolsTable,
      awsSdkV3Client: client,
    });
    close = async () => client.destroy();
  }
  // The key as an HTTP API would use it. Not `payloadValidationJmesPath`: with
  // it, every replay on the Redis layer fails with IdempotencyValidationError,
  // because completion rewrites the record without the payload hash.
  const idempotencyConfig = new IdempotencyConfig({ eventKeyJmesPath: 'key' });
  // Outside Lambda there is no context: in-progress records then get no expiry
  // (a concurrent duplicate takes them for orphans and runs again) and every
  // call warns "Did you call registerLambdaContext?". A stand-in context with
  // a 30 s budget gives it an in-flight lease, like idem's default lease.
  idempotencyConfig.registerLambdaContext({ getRemainingTimeInMillis: () => 30_000 } as never);
  const run = async (input: { key: string; body: Payment }) => charge(input.body, () => input.key);
  const withContext = makeIdempotent(run, {
    persistenceStore,
    config: idempotencyConfig,
    keyPrefix: `powertools-bench-${config.runId}`,
  });
  // The same without the stand-in, as a server would run it: only the retry storm uses it.
  const withoutContext = makeIdempotent(run, {
    persistenceStore,
    config: new IdempotencyConfig({ eventKeyJmesPath: 'key' }),
    keyPrefix: `powertools-bench-${config.runId}-nocontext`,
  });
  const quiet = async (input: { key: string; body: Payment }) => {
    // It warns on every call without a context; keep the storm's output readable.
    const warn = console.warn;
    console.warn = () => {};
    try {
      return await withoutContext(input);
    } finally {
      console.warn = warn;
    }
  };
  return { value: { withContext, withoutContext: quiet }, close };
}

/** Powertools' idempotent charge, with the stand-in Lambda context and without any. */
export interface PowertoolsCharges {
  readonly withContext: (input: { key: string; body: Payment }) => Promise<Receipt>;
  readonly withoutContext: (input: { key: string; body: Payment }) => Promise<Receipt>;
}
