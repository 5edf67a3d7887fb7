/**
 * Store requests, counted on each library's own client: a middleware on its
 * DynamoDBClient (the cost tool's counter, which also asks for request
 * units), and for Redis the commands this process writes to the Redis port
 * (src/wire.ts parses them, whatever the client library). Windows run one
 * configuration at a time, so a delta over a window is that configuration's.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { countCalls } from '../cost/dynamodb.ts';
import { redisCommands, wireCounts } from '../wire.ts';

/** What a store counter has seen so far. */
export interface StoreCount {
  readonly requests: number;
  /** Requests by command (`PutItem`, `EVALSHA`, …). */
  readonly ops: Readonly<Record<string, number>>;
  /** DynamoDB request units (read + write); absent on Redis. */
  readonly units?: number;
}

/** A library's store requests so far. */
export interface StoreCounter {
  read(): StoreCount;
}

/** Every request `client` sends, by action, with its request units. */
export function dynamoDbCounter(client: DynamoDBClient): StoreCounter {
  const calls = countCalls(client);
  return {
    read: () => ({
      requests: calls.roundTrips,
      ops: Object.fromEntries(Object.entries(calls.byAction).map(([a, c]) => [a, c.calls])),
      units: calls.units,
    }),
  };
}

/** Every Redis command this process sent (wire.ts's `watchPorts` must be installed first). */
export const redisCounter: StoreCounter = {
  read: () => ({ requests: wireCounts().resp, ops: { ...redisCommands() } }),
};

/** `after − before`, per field; ops that did not move are left out. */
export function countDelta(before: StoreCount, after: StoreCount): StoreCount {
  const ops: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.ops)) {
    const d = n - (before.ops[name] ?? 0);
    if (d !== 0) ops[name] = d;
  }
  return {
    requests: after.requests - before.requests,
    ops,
    ...(after.units === undefined ? {} : { units: after.units - (before.units ?? 0) }),
  };
}

/** The sum of counts (windows of one row). */
export function addCounts(counts: readonly StoreCount[]): StoreCount {
  const ops: Record<string, number> = {};
  let units: number | undefined;
  for (const c of counts) {
    for (const [name, n] of Object.entries(c.ops)) ops[name] = (ops[name] ?? 0) + n;
    if (c.units !== undefined) units = (units ?? 0) + c.units;
  }
  return {
    requests: counts.reduce((a, c) => a + c.requests, 0),
    ops,
    ...(units === undefined ? {} : { units }),
  };
}

/** Nothing counted: the bare handler's figures. */
export const NO_COUNT: StoreCount = { requests: 0, ops: {} };
