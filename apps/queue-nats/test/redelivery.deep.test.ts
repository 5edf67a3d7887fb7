import { fileURLToPath } from 'node:url';
import { crashSuite, reachPostgres } from '@idem/test-queues';
import { describe } from 'vitest';
import { createLedger } from '../src/ledger.ts';
import { reachNats } from './broker.ts';
import { testQueues } from './queues.ts';

// Consumers run in child processes (consumer-process.ts) and are SIGKILLed at
// their crash points: after the ledger INSERT but before idem's COMMIT, and
// after `run` resolved but before the ack. JetStream redelivers what was not
// acked once the ack wait runs out; idem makes every redelivery either a
// replay or the first real execution.

const postgresUp = await reachPostgres();
const natsUp = await reachNats();

describe.skipIf(!postgresUp || !natsUp)(
  'NATS JetStream consumers killed at their crash points',
  () => {
    crashSuite({
      broker: 'NATS JetStream',
      child: fileURLToPath(new URL('./consumer-process.ts', import.meta.url)),
      // An ack wait shorter than the lease: a message whose consumer died
      // before its commit comes back while the dead consumer's claim holds.
      // Not much longer: held at 2 s and 2.5 s (naks of 250 ms doubling), it
      // runs at 3.5 s; with 4 s it waited until 5.5 s, at the end of each run.
      open: testQueues({ ackWaitMs: 2_000 }),
      createLedger,
      leaseMs: 3_000,
      shared: 'durable consumer',
    });
  },
);
