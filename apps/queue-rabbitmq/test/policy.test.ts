import { randomUUID } from 'node:crypto';
import { policySuite, reachPostgres } from '@idem/test-queues';
import { describe, expect, it } from 'vitest';
import { createLedger } from '../src/ledger.ts';
import { reachRabbitMQ } from './broker.ts';
import { testQueues } from './queues.ts';

// What the consumer does with each outcome of `run`, against the real broker
// and database: the shared policy tests, and a reused message id.

const postgresUp = await reachPostgres();
const rabbitUp = await reachRabbitMQ();

describe.skipIf(!postgresUp || !rabbitUp)(
  'RabbitMQ consumer: what it does with each outcome',
  () => {
    const { setUp, until, of, pool } = policySuite({ open: testQueues(), createLedger });

    it('a republished message is replayed; a reused message id with another body is dead-lettered, and the first message stands', async () => {
      const { queue, ledger } = await setUp();
      const id = randomUUID();
      const credit = { account: 'a', amountCents: 100 };
      await queue.publish([{ messageId: id, credit }]);
      await until(() => of(id).length === 1, 'the first message');
      // A publisher that retries sends the same body: a replay, acked.
      await queue.publish([{ messageId: id, credit }]);
      await until(() => of(id).length === 2, 'the republished message');
      // A publisher that reuses an id for another message: refused.
      await queue.publish([{ messageId: id, credit: { account: 'a', amountCents: 999 } }]);
      await until(() => of(id).length === 3, 'the reused id');

      expect(of(id).map((e) => [e.action, e.status ?? e.reason])).toEqual([
        ['ack', 'executed'],
        ['ack', 'replayed'],
        ['dead-letter', 'FINGERPRINT_MISMATCH'],
      ]);
      const { rows } = await pool.query(`SELECT amount_cents FROM ${ledger}`);
      expect(rows).toEqual([{ amount_cents: 100 }]);
      expect(await queue.parked()).toEqual([id]);
    }, 30_000);
  },
);
