import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Store } from '@idem/core';
import { type D1DatabaseLike, d1Store } from '@idem/store-d1';
import { type DurableObjectNamespaceLike, durableObjectStore } from '@idem/store-durable-objects';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { memoryStore } from '@idem/store-memory';
import { FetchHttpHandler } from '@smithy/fetch-http-handler';

/** The Worker's bindings (wrangler.toml: Durable Objects, D1, `[vars]` and secrets). */
export interface WorkerEnv {
  /** The namespace of `IdempotencyObject` (`[[durable_objects.bindings]]`): records in Durable Objects. */
  readonly IDEMPOTENCY?: DurableObjectNamespaceLike;
  /** A D1 database (`[[d1_databases]]`) holding the `idem_records` table: records in D1. */
  readonly IDEM_DB?: D1DatabaseLike;
  /** The DynamoDB table of idem's records; without it, records stay in this isolate's memory. */
  readonly IDEM_TABLE?: string;
  /** @default 'us-east-1' */
  readonly AWS_REGION?: string;
  /** A secret (`wrangler secret put AWS_ACCESS_KEY_ID`). */
  readonly AWS_ACCESS_KEY_ID?: string;
  /** A secret (`wrangler secret put AWS_SECRET_ACCESS_KEY`). */
  readonly AWS_SECRET_ACCESS_KEY?: string;
  /** Another DynamoDB endpoint (DynamoDB Local, dynalite); AWS's regional endpoint when unset. */
  readonly DYNAMODB_ENDPOINT?: string;
}

/** A DynamoDB client that speaks HTTP through the Worker's `fetch`. */
export function dynamoDbClient(env: WorkerEnv): DynamoDBClient {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey) {
    // A Worker has no ~/.aws, no instance metadata and no process.env: the
    // SDK's default credential chain finds nothing there.
    throw new Error(
      'IDEM_TABLE is set but AWS credentials are not: run `wrangler secret put AWS_ACCESS_KEY_ID` and `wrangler secret put AWS_SECRET_ACCESS_KEY`.',
    );
  }
  return new DynamoDBClient({
    region: env.AWS_REGION ?? 'us-east-1',
    ...(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {}),
    credentials: { accessKeyId, secretAccessKey },
    // Fail fast: a store call that hangs holds the request until it times out.
    maxAttempts: 3,
    // The SDK's browser build picks this handler by itself; naming it keeps the
    // client off node:http even where a bundler resolves the Node build.
    requestHandler: new FetchHttpHandler({ requestTimeout: 2_000 }),
  });
}

/** The stores this Worker can run on. */
export type StoreKind = 'durable-objects' | 'd1' | 'dynamodb' | 'memory';

/**
 * Which store the bindings ask for: the first bound of `IDEMPOTENCY`
 * (Durable Objects), `IDEM_DB` (D1) and `IDEM_TABLE` (DynamoDB), else memory.
 */
export function storeKind(env: WorkerEnv): StoreKind {
  if (env.IDEMPOTENCY) return 'durable-objects';
  if (env.IDEM_DB) return 'd1';
  if (env.IDEM_TABLE) return 'dynamodb';
  return 'memory';
}

/**
 * The store for this isolate (see {@link storeKind}). A memory store lives in
 * ONE isolate: Cloudflare runs many isolates (per location, and new ones
 * whenever it likes), so a retry that lands on another isolate runs again.
 * Use it for development only.
 */
export function storeFor(env: WorkerEnv): Store {
  switch (storeKind(env)) {
    case 'durable-objects':
      return durableObjectStore({ namespace: env.IDEMPOTENCY! });
    case 'd1':
      return d1Store({ database: env.IDEM_DB! });
    case 'dynamodb':
      return dynamoDbStore({ client: dynamoDbClient(env), tableName: env.IDEM_TABLE! });
    case 'memory':
      return memoryStore();
  }
}
