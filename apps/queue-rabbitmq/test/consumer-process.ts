// One consumer process of the crash tests: the example's consumer, with its
// crash points wired to the test that forked it (which SIGKILLs it there).
import { createIdempotency } from '@idem/core';
import { postgresStore } from '@idem/store-postgres';
import { parentLink } from '@idem/test-queues/child';
import { withoutIdem } from '@idem/test-queues/naive';
import amqp from 'amqplib';
import pg from 'pg';
import { consumeCredits } from '../src/consumer.ts';

const env = (name: string) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`consumer-process: ${name} is not set`);
  return value;
};

const link = parentLink();
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 10 });
pool.on('error', () => {});
const protectedStore = postgresStore({ pool, table: env('RECORDS_TABLE') });
// WITHOUT_IDEM=1: the control run, the same consumer with idem taken out.
const { idem, store } =
  process.env.WITHOUT_IDEM === '1'
    ? withoutIdem(pool)
    : {
        idem: createIdempotency({ store: protectedStore, leaseMs: Number(env('LEASE_MS')) }),
        store: protectedStore,
      };
const connection = await amqp.connect(env('AMQP_URL'));
const consumer = await consumeCredits({
  channel: await connection.createChannel(),
  queue: env('QUEUE'),
  idem,
  store,
  ledger: env('LEDGER_TABLE'),
  name: link.name,
  prefetch: 8,
  retryDelayMs: Number(env('RETRY_DELAY_MS')),
  checkpoint: link.checkpoint,
  onSettled: link.settled,
});
link.ready();
await link.stop;
await consumer.close();
await connection.close();
await pool.end();
process.exit(0);
