import { randomUUID } from 'node:crypto';
import { policySuite, reachPostgres } from '@idem/test-queues';
import { describe, expect, it } from 'vitest';
import { createLedger } from '../src/ledger.ts';
import { reachNats } from './broker.ts';
import { testQueues } from './queues.ts';

// What the consumer does with each outcome of `run`, against the real server
// and database: the shared policy tests, and republished and reused ids,
// which JetStream's own duplicate window and idem share between them.

const postgresUp = await reachPostgres();
const natsUp = await reachNats();
const DUPLICATE_WINDOW_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!postgresUp || !natsUp)(
  'NATS JetStream consumer: what it does with each outcome',
  () => {
    const { setUp, until, of, pool } = policySuite({
      open: testQueues({ duplicateWindowMs: DUPLICATE_WINDOW_MS }),
      createLedger,
    });

    it('a republish is dropped by JetStream within its window and replayed by idem after it; a reused id with another body is dead-lettered', async () => {
      const { queue, ledger } = await setUp();
      const id = randomUUID();
      const credit = { account: 'a', amountCents: 100 };
      await queue.publish([{ messageId: id, credit }]);
      await until(() => of(id).length === 1, 'the first message');
      // Within the duplicate window JetStream itself drops a republish.
      await queue.publish([{ messageId: id, credit }]);
      await sleep(4 * DUPLICATE_WINDOW_MS);
      expect(of(id)).toHaveLength(1);
      expect(await queue.left()).toEqual({ queued: 0, deadLettered: 0 });
      // After it, the republish is stored and delivered: idem replays it.
      await queue.publish([{ messageId: id, credit }]);
      await until(() => of(id).length === 2, 'the republished message');
      await sleep(4 * DUPLICATE_WINDOW_MS);
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
