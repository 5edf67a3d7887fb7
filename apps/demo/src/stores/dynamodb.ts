import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDbStore } from '@idem/store-dynamodb';
import type { DemoStore } from '../stores.ts';

/** dynalite (an implementation of the DynamoDB API, in memory here) ships no types. */
type Dynalite = (options?: { createTableMs?: number }) => Server;

/**
 * The DynamoDB store: on DYNAMODB_ENDPOINT (DynamoDB Local, AWS) when set,
 * otherwise on a dynalite started in this process on an ephemeral port.
 * DYNAMODB_TABLE names the table (default `idem-demo`), created if missing.
 */
export async function open(): Promise<DemoStore> {
  // The SDK's notice that its 2027 releases need Node 22 is noise in the demo's table.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const configured = process.env.DYNAMODB_ENDPOINT;
  let server: Server | undefined;
  let endpoint = configured;
  if (!endpoint) {
    const dynalite = createRequire(import.meta.url)('dynalite') as Dynalite;
    const started = dynalite({ createTableMs: 0 });
    server = started;
    await new Promise<void>((resolve) => started.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(started.address() as AddressInfo).port}`;
  }
  const client = new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    // dynalite and DynamoDB Local accept any credentials; AWS uses the usual chain.
    ...(process.env.AWS_ACCESS_KEY_ID
      ? {}
      : { credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' } }),
    requestHandler: {
      connectionTimeout: 1_000,
      requestTimeout: 3_000,
      throwOnRequestTimeout: true,
    },
  });
  const store = dynamoDbStore({ client, tableName: process.env.DYNAMODB_TABLE ?? 'idem-demo' });
  await store.createTable();
  return {
    store,
    label: `dynamodb store (${server ? `dynalite in-process at ${endpoint}` : endpoint})`,
    async close() {
      client.destroy();
      if (server) {
        const stopping = server;
        stopping.closeAllConnections();
        await new Promise((resolve) => stopping.close(resolve));
      }
    },
  };
}
