import { fileURLToPath } from 'node:url';
import { crashSuite, reachPostgres } from '@idem/test-queues';
import { describe } from 'vitest';
import { createLedger } from '../src/ledger.ts';
import { reachRabbitMQ } from './broker.ts';
import { testQueues } from './queues.ts';

// Consumers run in child processes (consumer-process.ts) and are SIGKILLed at
// their crash points: after the ledger INSERT but before idem's COMMIT, and
// after `run` resolved but before the ack. RabbitMQ requeues at once what a
// dead connection held; idem makes every redelivery either a replay or the
// first real execution.

const postgresUp = await reachPostgres();
const rabbitUp = await reachRabbitMQ();

describe.skipIf(!postgresUp || !rabbitUp)('RabbitMQ consumers killed at their crash points', () => {
  crashSuite({
    broker: 'RabbitMQ',
    child: fileURLToPath(new URL('./consumer-process.ts', import.meta.url)),
    open: testQueues(),
    createLedger,
    leaseMs: 3_000,
    shared: 'queue',
  });
});
