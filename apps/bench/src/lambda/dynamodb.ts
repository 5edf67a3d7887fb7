/**
 * The DynamoDB side of the Lambda section: a client per library with its
 * request counter, the two tables on dynalite, and AWS's answer to a lost
 * conditional write where dynalite leaves it out.
 */
import {
  type AttributeValue,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  type PutItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { dynamoDbCounter, type StoreCounter } from './counters.ts';
import type { Servers } from './libraries.ts';

/** A client of dynalite at `endpoint`, with the bench's dummy credentials. */
export function dynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 10_000 },
  });
}

/**
 * What AWS answers a lost conditional `PutItem` that asked for
 * `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`: the item in the way,
 * attached to the error. dynalite leaves it out, so this reads it (a
 * strongly consistent `GetItem` on a client of its own, which no counter
 * sees) and attaches it, so each library's own requests are counted as on
 * AWS. The read's time is not: use it for counts, not for speed.
 */
export function answerConflictsWithItem(
  client: DynamoDBClient,
  endpoint: string,
  keyAttribute: string,
): () => void {
  const reader = dynamoDbClient(endpoint);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const input = args.input as PutItemCommandInput;
        const failed = error as { name?: string; Item?: Record<string, AttributeValue> };
        const key = input.Item?.[keyAttribute];
        if (
          context.commandName === 'PutItemCommand' &&
          input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' &&
          failed.name === 'ConditionalCheckFailedException' &&
          !failed.Item &&
          key
        ) {
          const { Item } = await reader.send(
            new GetItemCommand({
              TableName: input.TableName,
              Key: { [keyAttribute]: key },
              ConsistentRead: true,
            }),
          );
          if (Item) failed.Item = Item;
        }
        throw error;
      }
    },
    { step: 'initialize', name: 'benchConflictsWithItem' },
  );
  return () => reader.destroy();
}

/** A client for one library, counted, answering conflicts as AWS does when `servers` says so. */
export function libraryClient(
  servers: Servers,
  keyAttribute: string,
): { client: DynamoDBClient; counter: StoreCounter; close(): void } {
  const client = dynamoDbClient(servers.dynamoEndpoint);
  const counter = dynamoDbCounter(client);
  const closeReader = servers.conflictsWithItem
    ? answerConflictsWithItem(client, servers.dynamoEndpoint, keyAttribute)
    : () => {};
  return {
    client,
    counter,
    close: () => {
      closeReader();
      client.destroy();
    },
  };
}

/** idem's table of the run. */
export const idemTable = (run: string) => `idem-lambda-${run}`;
/** Powertools' documented table: partition key `id`. */
export const powertoolsTable = (run: string) => `powertools-lambda-${run}`;

/** Both tables, on dynalite. */
export async function createTables(servers: Servers): Promise<void> {
  const client = dynamoDbClient(servers.dynamoEndpoint);
  try {
    const { dynamoDbStore } = await import('@idem/store-dynamodb');
    await dynamoDbStore({ client, tableName: idemTable(servers.run) }).createTable();
    await client.send(
      new CreateTableCommand({
        TableName: powertoolsTable(servers.run),
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } finally {
    client.destroy();
  }
}
