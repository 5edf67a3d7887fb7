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
      open: testQueues({ ackWaitMs: 2_000 }),
      createLedger,
      leaseMs: 4_000,
      shared: 'durable consumer',
    });
  },
);
