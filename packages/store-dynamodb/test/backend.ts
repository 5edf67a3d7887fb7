import type { AddressInfo } from 'node:net';
import {
  type AttributeValue,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { reachServer } from '@idem/conformance';
import dynalite from 'dynalite';

// The SDK warns once per process that its 2027 releases will need Node 22; noise for these tests.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** A DynamoDB API the tests talk to: dynalite started here, or DYNAMODB_ENDPOINT. */
export interface Backend {
  readonly endpoint: string;
  /** Whether it is a dynalite this process started (and can stop). */
  readonly local: boolean;
  /** False when DYNAMODB_ENDPOINT is set but unreachable (tests skip, or fail under CI=true). */
  readonly up: boolean;
  close(): Promise<void>;
}

/** Start dynalite in memory on an ephemeral port. */
export async function startDynalite(
  options: { maxItemSizeKb?: number } = {},
): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...options });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}

/** The shared backend of a test file: DYNAMODB_ENDPOINT if set, else a fresh dynalite. */
export async function openBackend(): Promise<Backend> {
  const configured = process.env.DYNAMODB_ENDPOINT;
  if (configured) {
    const probe = makeClient(configured, { maxAttempts: 1 });
    const up = await reachServer('DynamoDB', configured, () =>
      probe.send(new ListTablesCommand({ Limit: 1 })),
    );
    probe.destroy();
    return { endpoint: configured, local: false, up, close: async () => {} };
  }
  const started = await startDynalite();
  return { ...started, local: true, up: true };
}

/** A client for `endpoint`; dummy credentials unless the environment has real ones. */
export function makeClient(
  endpoint: string,
  config: Partial<DynamoDBClientConfig> = {},
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    ...(process.env.AWS_ACCESS_KEY_ID
      ? {}
      : { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
    ...config,
  });
}

/** A table name no earlier run used (tests may share a persistent DynamoDB). */
export function tableName(purpose: string): string {
  return `idem-test-${purpose}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** Counts HTTP attempts per command: a deserialize-step middleware runs once per attempt, inside the SDK's retries. */
export function countRoundTrips(client: DynamoDBClient): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => (args) => {
      const name = String(context.commandName).replace(/Command$/, '');
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'deserialize', name: 'idemRoundTripCounter' },
  );
  return counts;
}

/**
 * A client that behaves like AWS on endpoints that ignore
 * ReturnValuesOnConditionCheckFailure (dynalite): when a PutItem's condition
 * fails, it attaches the current item to the error, read by a second,
 * uncounted client. Lets the tests drive the store's ALL_OLD path.
 */
export function withAllOld(client: DynamoDBClient, endpoint: string): DynamoDBClient {
  const reader = makeClient(endpoint);
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const wrapped = Object.create(client) as DynamoDBClient;
  (wrapped as { send: unknown }).send = async (command: unknown) => {
    try {
      return await send(command);
    } catch (error) {
      const e = error as { name?: string; Item?: Record<string, AttributeValue> };
      if (command instanceof PutItemCommand && e.name === 'ConditionalCheckFailedException') {
        const input = command.input;
        const { Item } = await reader.send(
          new GetItemCommand({
            TableName: input.TableName,
            Key: { pk: input.Item!.pk! },
            ConsistentRead: true,
          }),
        );
        e.Item ??= Item;
      }
      throw error;
    }
  };
  return wrapped;
}
