import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type StoreBackend } from './runtime/backends.js';
import { Fleet } from './runtime/fleet.js';

// Everyday smoke of the real-runtime harness: one function process under
// aws-lambda-ric, a local Runtime API, dynalite. The storms, kills and every
// event source run in the deep tier (runtime-*.deep.test.ts).
let store: StoreBackend | undefined;
let fleet: Fleet | undefined;

beforeAll(async () => {
  const opened = await openStore('dynamodb', 'smoke');
  if (typeof opened === 'string') return;
  store = opened;
  fleet = await Fleet.deploy({ source: 'plain.ts', store, workMs: 0 });
}, 60_000);

afterAll(async () => {
  await fleet?.close();
  await store?.close();
});

describe('the Lambda runtime harness', () => {
  it('runs a handler once through aws-lambda-ric and replays its redelivery with one claim', async () => {
    if (!fleet) return;
    const first = await fleet.deliver(0, { key: 'smoke-1' });
    expect(first.result, fleet.stderr()).toMatchObject({
      kind: 'response',
      payload: { outcome: 'executed', key: 'smoke-1', requestId: first.requestId },
    });
    const again = await fleet.deliver(0, { key: 'smoke-1' });
    expect(again.result).toMatchObject({
      kind: 'response',
      payload: { outcome: 'replayed', requestId: first.requestId },
    });
    expect(fleet.ledger.runsOf('smoke-1')).toHaveLength(1);
    expect(fleet.ledger.effectsOf('smoke-1')).toHaveLength(1);
    const writes = fleet.dynamoRequests(first.requestId);
    expect(writes).toEqual([
      { op: 'PutItem', phase: 'claim', outcome: 'ok' },
      { op: 'UpdateItem', phase: 'complete', outcome: 'ok' },
    ]);
    // dynalite drops the item a failed condition carries on AWS (ALL_OLD): the replay reads it.
    expect(fleet.dynamoRequests(again.requestId)).toEqual([
      { op: 'PutItem', phase: 'claim', outcome: 'ConditionalCheckFailedException' },
      { op: 'GetItem', phase: 'read', outcome: 'ok' },
    ]);
  });
});
