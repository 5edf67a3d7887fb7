/**
 * DynamoDB for the cost tool, on dynalite (the DynamoDB API, in memory) in a
 * child process of its own, so its CPU stays out of this process's. What
 * DynamoDB bills is counted, not dynalite's CPU: request units (from
 * ReturnConsumedCapacity, which a middleware adds to every call) and round
 * trips, by a counter on the client's middleware stack.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue as SdkAttributeValue,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { type AttributeValue, itemBytes, writeUnits } from './metrics.ts';
import { freePort } from './redis-server.ts';
import { type DbMeter, FINGERPRINT, idemWay, RESPONSE, token, type Way } from './run.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Round trips and request units since the counter was made, and by action. */
export interface CallCounter {
  roundTrips: number;
  units: number;
  readonly byAction: Record<string, { calls: number; units: number }>;
}

/**
 * Count every call `client` sends and the request units it consumed, asking
 * DynamoDB for them (ReturnConsumedCapacity). A write whose condition fails
 * consumes write units too but returns none: counted as DynamoDB bills it,
 * by the size of the item (the one the error returns, else the one sent).
 */
export function countCalls(client: DynamoDBClient): CallCounter {
  const counter: CallCounter = { roundTrips: 0, units: 0, byAction: {} };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity ??= 'TOTAL';
      const action = context.commandName?.replace(/Command$/, '') ?? '?';
      counter.byAction[action] ??= { calls: 0, units: 0 };
      const entry = counter.byAction[action];
      counter.roundTrips++;
      entry.calls++;
      try {
        const result = await next(args);
        const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } })
          .ConsumedCapacity?.CapacityUnits;
        counter.units += consumed ?? 0;
        entry.units += consumed ?? 0;
        return result;
      } catch (error) {
        if ((error as { name?: string }).name === 'ConditionalCheckFailedException') {
          const item =
            (error as { Item?: Record<string, AttributeValue> }).Item ??
            (input.Item as Record<string, AttributeValue> | undefined);
          const units = writeUnits(item ? itemBytes(item) : 0);
          counter.units += units;
          entry.units += units;
        }
        throw error;
      }
    },
    { step: 'initialize', name: 'idemCostCounter' },
  );
  return counter;
}

/** dynalite on a free port, in a child process. */
export async function startDynalite(): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('dynalite')({ createTableMs: 0 }).listen(${port}, '127.0.0.1', () => console.log('READY'))`,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, child };
}

/** dynalite, a client with a counter, idem's table and the floor's, and the two ways. */
export async function openDynamo(run: string): Promise<{
  server: string;
  meter: DbMeter;
  floor: Way;
  idem: Way;
  /** The calls of `label`'s phases (`idem:replay`) by action, with their units, per request. */
  actions(label: string): string;
  close(): Promise<void>;
}> {
  const { endpoint, child } = await startDynalite();
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'cost', secretAccessKey: 'cost' },
  });
  const counter = countCalls(client);
  const idemTable = `cost-idem-${run}`;
  const floorTable = `cost-floor-${run}`;
  await dynamoDbStore({ client, tableName: idemTable }).createTable();
  // The same table shape for the floor (a string partition key `pk`).
  await dynamoDbStore({ client, tableName: floorTable }).createTable();
  const store = dynamoDbStore({ client, tableName: idemTable });
  const ttl = 3_600_000;
  const pk = (key: string): Record<string, SdkAttributeValue> => ({ pk: { S: `floor:${key}` } });
  const floor: Way = {
    first: [
      async (key) => {
        const at = Date.now();
        await client.send(
          new PutItemCommand({
            TableName: floorTable,
            Item: {
              ...pk(key),
              state: { S: 'in_progress' },
              fingerprint: { S: FINGERPRINT },
              token: { S: token() },
              leaseExpiresAt: { N: String(at + 30_000) },
              ttl: { N: String(Math.ceil((at + 30_000) / 1000)) },
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      },
      async (key) => {
        const at = Date.now();
        await client.send(
          new UpdateItemCommand({
            TableName: floorTable,
            Key: pk(key),
            UpdateExpression:
              'SET #state = :completed, expiresAt = :expiresAt, #ttl = :ttl, #status = :status, headers = :headers, body = :body REMOVE #token, leaseExpiresAt',
            ExpressionAttributeNames: {
              '#state': 'state',
              '#ttl': 'ttl',
              '#status': 'status',
              '#token': 'token',
            },
            ExpressionAttributeValues: {
              ':completed': { S: 'completed' },
              ':expiresAt': { N: String(at + ttl) },
              ':ttl': { N: String(Math.ceil((at + ttl) / 1000)) },
              ':status': { N: String(RESPONSE.status) },
              ':headers': { S: JSON.stringify(RESPONSE.headers) },
              ':body': { B: RESPONSE.body },
            },
          }),
        );
      },
    ],
    replay: [
      async (key) => {
        // Strongly consistent, as idem's conditional claim is.
        const { Item } = await client.send(
          new GetItemCommand({ TableName: floorTable, Key: pk(key), ConsistentRead: true }),
        );
        if (Item?.state?.S !== 'completed') throw new Error(`${key}: floor item not completed`);
      },
    ],
  };
  // Per phase: the calls by action and their units, summed over the windows.
  const perLabel = new Map<
    string,
    { requests: number; byAction: Record<string, { calls: number; units: number }> }
  >();
  const meter: DbMeter = {
    async window(label, requests, go) {
      const trips = counter.roundTrips;
      const units = counter.units;
      const before = structuredClone(counter.byAction);
      await go();
      const entry = perLabel.get(label) ?? { requests: 0, byAction: {} };
      entry.requests += requests;
      for (const [action, now] of Object.entries(counter.byAction)) {
        const was = before[action] ?? { calls: 0, units: 0 };
        const sum = entry.byAction[action] ?? { calls: 0, units: 0 };
        entry.byAction[action] = {
          calls: sum.calls + now.calls - was.calls,
          units: sum.units + now.units - was.units,
        };
      }
      perLabel.set(label, entry);
      return { us: 0, roundTrips: counter.roundTrips - trips, units: counter.units - units };
    },
  };
  /** `PutItem 1.00 WCU + GetItem 1.00 RCU`: each action's calls and units per request of `label`'s phases. */
  const actions = (label: string) =>
    [...perLabel.keys()]
      .filter((l) => l.startsWith(`${label}:`))
      .sort()
      .flatMap((l) => {
        const { requests, byAction } = perLabel.get(l)!;
        return Object.entries(byAction)
          .filter(([, a]) => a.calls > 0)
          .map(([action, a]) => {
            const calls = a.calls / requests;
            const kind = action === 'GetItem' || action === 'Query' ? 'RCU' : 'WCU';
            const times = Math.abs(calls - 1) < 0.01 ? '' : `${calls.toFixed(2)} x `;
            return `${times}${action} ${(a.units / requests).toFixed(2)} ${kind}`;
          });
      })
      .join(' + ');
  return {
    server: 'dynalite 4.0.0 (the DynamoDB API in memory)',
    meter,
    floor,
    idem: idemWay(store),
    actions,
    async close() {
      client.destroy();
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
