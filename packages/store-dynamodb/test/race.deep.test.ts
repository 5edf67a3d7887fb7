import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createIdempotency } from '@idem/core';
import { cpuPressure } from '@idem/test-pressure';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { makeClient, openBackend, tableName } from './backend.js';

// The deep tier: two clients racing one key under CPU pressure (busy worker
// threads beside the test), where a check-then-set would let both run.
const backend = await openBackend();
const client = makeClient(backend.endpoint);
const table = tableName('race');
if (backend.up) await dynamoDbStore({ client, tableName: table }).createTable();
const clients: DynamoDBClient[] = [client];

afterAll(async () => {
  for (const c of clients) c.destroy();
  await backend.close();
});

describe.skipIf(!backend.up)('dynamoDbStore racing through the engine', () => {
  const store = dynamoDbStore({ client, tableName: table });

  it('two clients racing one key through the engine run the operation once (under CPU pressure)', async () => {
    const pressure = cpuPressure();
    onTestFinished(() => pressure.stop());
    const second = makeClient(backend.endpoint);
    clients.push(second);
    const instances = [store, dynamoDbStore({ client: second, tableName: table })].map((s) =>
      createIdempotency({ store: s, concurrent: 'wait', waitTimeoutMs: 5_000 }),
    );
    for (let round = 0; round < 10; round++) {
      const key = `race-${Date.now()}-${round}`;
      let runs = 0;
      const outcomes = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          instances[i % 2]!.run(
            key,
            async () => {
              runs++;
              await new Promise((r) => setTimeout(r, 20));
              return { charge: `ch_${round}_${i}` };
            },
            { scope: 'race', payload: { amount: 100 } },
          ),
        ),
      );
      expect(runs).toBe(1);
      expect(outcomes.filter((o) => o.kind === 'executed')).toHaveLength(1);
      expect(new Set(outcomes.map((o) => o.value.charge)).size).toBe(1);
    }
    // 160 engine runs against dynalite (DynamoDB in JavaScript) beside busy cores.
  }, 60_000);
});
