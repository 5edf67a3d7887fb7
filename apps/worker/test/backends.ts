import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDbStore } from '@idem/store-dynamodb';
import dynalite from 'dynalite';
import { bundleWorker } from '../scripts/bundle.ts';

// The SDK warns once per process that its 2027 releases will need Node 22; noise for these tests.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The workerd behaviour the tests pin; the same date as wrangler.toml. It
 * must not be later than the workerd that miniflare ships supports.
 */
export const COMPATIBILITY_DATE = '2025-09-01';

/** Fake credentials, as the Worker gets them: env bindings (secrets in production). */
export const FAKE_AWS = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
} as const;

/** Bundle a Worker entry of this app (a path relative to apps/worker) as `wrangler deploy` would. */
export function bundle(entry: string): Promise<string> {
  return bundleWorker(fileURLToPath(new URL(`../${entry}`, import.meta.url)));
}

/**
 * dynalite (the DynamoDB API, in memory) on an ephemeral loopback port, with
 * one idem table; `maxResponseBytes` is what the DynamoDB store keeps.
 */
export async function startDynalite(
  tableName: string,
): Promise<{ endpoint: string; maxResponseBytes: number; close(): Promise<void> }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Created from Node, as infrastructure code would; the Worker only uses it.
  const client = new DynamoDBClient({
    endpoint,
    region: FAKE_AWS.AWS_REGION,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const store = dynamoDbStore({ client, tableName });
  await store.createTable();
  client.destroy();
  return {
    endpoint,
    maxResponseBytes: store.maxResponseBytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
