// One consumer process of the crash tests: the example's consumer, with its
// crash points wired to the test that forked it (which SIGKILLs it there).
import { createIdempotency } from '@idem/core';
import { postgresStore } from '@idem/store-postgres';
import { parentLink } from '@idem/test-queues/child';
import { withoutIdem } from '@idem/test-queues/naive';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { consumeCredits } from '../src/consumer.ts';
import type { Streams } from '../src/topology.ts';

const env = (name: string) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`consumer-process: ${name} is not set`);
  return value;
};

const link = parentLink();
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 4 });
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
const nc = await connect({ servers: env('NATS_URL') });
const consumer = await consumeCredits({
  js: jetstream(nc),
  streams: JSON.parse(env('STREAMS')) as Streams,
  idem,
  store,
  ledger: env('LEDGER_TABLE'),
  name: link.name,
  retryDelayMs: Number(env('RETRY_DELAY_MS')),
  checkpoint: link.checkpoint,
  onSettled: link.settled,
});
link.ready();
await link.stop;
await consumer.close();
await nc.drain();
await pool.end();
process.exit(0);
