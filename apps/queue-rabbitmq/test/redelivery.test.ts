import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { postgresStore } from '@idem/store-postgres';
import {
  type CrashPoint,
  crashRun,
  DATABASE_URL,
  expectAppliedOnce,
  type Figures,
  figures,
  formatFigures,
  reachPostgres,
  readLedger,
  testPool,
  uniqueName,
} from '@idem/test-queues';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../src/ledger.ts';
import { publishCredits } from '../src/publish.ts';
import { assertQueues } from '../src/topology.ts';
import { AMQP_URL, reachRabbitMQ } from './broker.ts';

// Consumers run in child processes and are SIGKILLed at their crash points:
// after the ledger INSERT but before idem's COMMIT, and after `run` resolved
// but before the ack. RabbitMQ requeues what a dead connection held; idem
// makes every redelivery either a replay or the first real execution.

const postgresUp = await reachPostgres();
const rabbitUp = await reachRabbitMQ();
const child = fileURLToPath(new URL('./consumer-process.ts', import.meta.url));
const LEASE_MS = 3_000;
const KILLS: CrashPoint[] = [
  'after-write',
  'before-ack',
  'after-write',
  'before-ack',
  'after-write',
  'before-ack',
];

describe.skipIf(!postgresUp || !rabbitUp)('RabbitMQ consumers killed at their crash points', () => {
  const pool = testPool();
  let connection: amqp.ChannelModel;
  let channel: amqp.ConfirmChannel;

  beforeAll(async () => {
    connection = await amqp.connect(AMQP_URL);
    channel = await connection.createConfirmChannel();
  });
  afterAll(async () => {
    await connection?.close();
    await pool.end();
  });

  interface Scenario {
    readonly label: string;
    readonly consumers: number;
    readonly count: number;
    readonly kills: readonly CrashPoint[];
    readonly withoutIdem?: boolean;
  }

  /** Publish `count` credits, run the consumers with their kills, and read the ledger. */
  async function scenario(s: Scenario) {
    const queue = uniqueName('idem_credits');
    const records = uniqueName('idem_records');
    const ledger = uniqueName('idem_ledger');
    const { deadLetters } = await assertQueues(channel, queue);
    try {
      await postgresStore({ pool, table: records }).migrate();
      await createLedger(pool, ledger);
      const ids = Array.from({ length: s.count }, () => randomUUID());
      await publishCredits(
        channel,
        queue,
        ids.map((messageId, i) => ({
          messageId,
          credit: { account: `acct-${i % 17}`, amountCents: 100 + i },
        })),
      );
      const run = await crashRun({
        child,
        env: {
          AMQP_URL,
          DATABASE_URL,
          QUEUE: queue,
          RECORDS_TABLE: records,
          LEDGER_TABLE: ledger,
          LEASE_MS: String(LEASE_MS),
          RETRY_DELAY_MS: '250',
          WITHOUT_IDEM: s.withoutIdem ? '1' : '0',
        },
        ids,
        consumers: s.consumers,
        kills: s.kills,
        spacing: Math.floor((2 * s.count) / (s.kills.length + 1)),
      });
      const ledgerRows = await readLedger(pool, ledger);
      const f = figures(run, ledgerRows, ids);
      console.log(formatFigures(`RabbitMQ, ${s.label}`, f));
      // Every message acked, nothing parked: the broker holds nothing more.
      const left = {
        queued: (await channel.checkQueue(queue)).messageCount,
        deadLettered: (await channel.checkQueue(deadLetters)).messageCount,
      };
      return { run, ledgerRows, f, left };
    } finally {
      await channel.deleteQueue(queue);
      await channel.deleteQueue(deadLetters);
      await pool.query(`DROP TABLE IF EXISTS ${records}, ${ledger}`);
    }
  }

  async function appliedOnce(s: Scenario): Promise<Figures> {
    const { run, ledgerRows, f, left } = await scenario(s);
    expectAppliedOnce(run, ledgerRows, f, s.kills.length);
    expect(left).toEqual({ queued: 0, deadLettered: 0 });
    return f;
  }

  it('one consumer at a time, replaced after each kill: every message applied once', async () => {
    await appliedOnce({ label: 'one consumer at a time', consumers: 1, count: 300, kills: KILLS });
  }, 60_000);

  it('two consumers competing on one queue, one killed at a time: every message applied once', async () => {
    const f = await appliedOnce({
      label: 'two competing consumers',
      consumers: 2,
      count: 400,
      kills: KILLS,
    });
    // The survivor got the message killed before its commit at once, while
    // the dead consumer's claim was still leased: it was held, not run twice.
    expect(f.heldInFlight).toBeGreaterThan(0);
  }, 60_000);

  it('the control: without idem, the same consumer killed before its acks applies messages twice', async () => {
    const kills: CrashPoint[] = ['before-ack', 'before-ack', 'before-ack'];
    const { f } = await scenario({
      label: 'control, without idem',
      consumers: 1,
      count: 150,
      kills,
      withoutIdem: true,
    });
    expect(f.kills).toBe(kills.length);
    expect(f.lost).toBe(0);
    // Each kill left at least its own committed, unacked message to be applied again.
    expect(f.duplicates).toBeGreaterThanOrEqual(kills.length);
  }, 60_000);
});
