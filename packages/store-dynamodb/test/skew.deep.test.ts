import { createIdempotency } from '@idem/core';
import { cpuPressure } from '@idem/test-pressure';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { makeClient, openBackend, tableName } from './backend.js';

/**
 * DynamoDB judges leases by the application's clock. Two instances on one
 * table, the second one's clock ahead by `skew`; the first runs an operation
 * for 2.6 leases while the second keeps trying the same key. The engine
 * renews a lease a third of a lease after its last renewal, so the record's
 * lease left, on the owner's clock, never falls below two thirds of a lease
 * (less one renewal's round trip and timer lateness): a skew under that never
 * takes a live lease over, and one past it does. Under CPU pressure (busy
 * threads and event-loop stalls), as on a loaded server.
 */

const backend = await openBackend();
const client = makeClient(backend.endpoint);
const table = tableName('skew');
if (backend.up) await dynamoDbStore({ client, tableName: table }).createTable();
afterAll(async () => {
  client.destroy();
  await backend.close();
});

const LEASE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many times the operation ran when the second instance's clock is `skew` ms ahead. */
async function executions(skew: number): Promise<number> {
  const engine = (now: () => number) =>
    createIdempotency({
      store: dynamoDbStore({ client, tableName: table, now }),
      leaseMs: LEASE_MS,
      logger: false,
    });
  const owner = engine(Date.now);
  const ahead = engine(() => Date.now() + skew);
  const key = `skew-${skew}-${Math.random()}`;
  let runs = 0;
  let done = false;
  // Another operation already running on the owner, as on any busy server:
  // the renewals of the one under test are not in step with its start.
  const other = owner.run(`${key}-other`, () => sleep(2.8 * LEASE_MS));
  await sleep(20);
  const first = owner.run(key, async () => {
    runs++;
    await sleep(2.6 * LEASE_MS);
    return 'first';
  });
  // The other instance retries the same key all the while (a client's retries).
  while (!done) {
    await sleep(LEASE_MS / 20);
    await ahead
      .run(key, () => {
        runs++;
        return 'second';
      })
      .catch(() => {}); // 409 while the owner's lease holds
    done = runs > 1 || (await Promise.race([first.then(() => true), sleep(0).then(() => false)]));
  }
  await first.catch(() => {});
  await other;
  return runs;
}

describe.skipIf(!backend.up)('clock skew between instances (DynamoDB, the app clock)', () => {
  it('under 0.6 of a lease (1.8 s at a 3 s lease): the operation runs once, though it lasts 2.6 leases', async () => {
    const pressure = cpuPressure();
    try {
      expect(await executions(0.6 * LEASE_MS)).toBe(1);
    } finally {
      await pressure.stop();
    }
  }, 30_000);

  it('past two thirds of a lease (0.7, 2.1 s): the instance ahead takes the live lease over', async () => {
    expect(await executions(0.7 * LEASE_MS)).toBe(2);
  }, 30_000);
});
