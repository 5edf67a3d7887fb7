import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDbStore } from '@idem/store-dynamodb';
import type { Context } from 'aws-lambda';

/** dynalite (the DynamoDB API, in memory) ships no types. */
type Dynalite = (options?: { createTableMs?: number }) => Server;

/** The functions template.yaml deploys, as the local run invokes them. */
export const FUNCTIONS = {
  payments: { logicalId: 'PaymentsFunction', timeoutSeconds: 10 },
  credits: { logicalId: 'CreditsFunction', timeoutSeconds: 30 },
} as const;

/** The table's name in the local run; on AWS, CloudFormation names it. */
const TABLE = 'idem-example-lambda';

/** What stands in for AWS: dynalite, the table, and the environment Lambda would give the functions. */
export interface LocalAws {
  readonly endpoint: string;
  readonly table: string;
  stop(): Promise<void>;
}

let started: Promise<LocalAws> | undefined;

/**
 * Starts dynalite on an ephemeral port (once per process), creates the table
 * as the template declares it, and sets the environment the handlers read
 * at init (`IDEM_TABLE`, the region, credentials, and the SDK's
 * `AWS_ENDPOINT_URL_DYNAMODB` pointing at dynalite), as Lambda sets it for a
 * deployed function. Import the handlers after this.
 */
export function localAws(): Promise<LocalAws> {
  started ??= start();
  return started;
}

async function start(): Promise<LocalAws> {
  // The SDK's notice that its 2027 releases need Node 22 is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynalite = createRequire(import.meta.url)('dynalite') as Dynalite;
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    IDEM_TABLE: TABLE,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    // dynalite accepts any credentials; these keep real ones out of a local run.
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
  delete process.env.AWS_SESSION_TOKEN;
  // What `sam deploy` does with the template's table, in one call.
  const admin = new DynamoDBClient({});
  await dynamoDbStore({ client: admin, tableName: TABLE }).createTable();
  admin.destroy();
  return {
    endpoint,
    table: TABLE,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Stops the local AWS, if started. */
export async function stopLocalAws(): Promise<void> {
  const running = started;
  started = undefined;
  if (running) await (await running).stop();
}

/** The context Lambda hands an invocation of `fn`: a fresh request id, and the deadline its timeout sets. */
export function invocationContext(fn: keyof typeof FUNCTIONS): Context {
  const { logicalId, timeoutSeconds } = FUNCTIONS[fn];
  const functionName = `example-lambda-${logicalId}`;
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/12/08/[$LATEST]0123456789abcdef0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
