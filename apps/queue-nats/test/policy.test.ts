import { randomUUID } from 'node:crypto';
import { createIdempotency } from '@idem/core';
import { postgresStore } from '@idem/store-postgres';
import { reachPostgres, readLedger, testPool, uniqueName } from '@idem/test-queues';
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Consumer, consumeCredits, type Settled } from '../src/consumer.ts';
import { createLedger } from '../src/ledger.ts';
import { publishCredits } from '../src/publish.ts';
import { assertStreams, type Streams } from '../src/topology.ts';
import { NATS_URL, reachNats } from './broker.ts';

// What the consumer does with each outcome of `run`, against the real server
// and database: poison messages, messages it cannot key, republished and
// reused ids, and a store that is not there.

const postgresUp = await reachPostgres();
const natsUp = await reachNats();
const MAX_DELIVERIES = 3;
const DUPLICATE_WINDOW_MS = 300;

describe.skipIf(!postgresUp || !natsUp)(
  'NATS JetStream consumer: what it does with each outcome',
  () => {
    const pool = testPool(6);
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    let js: JetStreamClient;
    let streams: Streams;
    let records: string;
    let ledger: string;
    let consumer: Consumer | undefined;
    const events: Settled[] = [];

    beforeAll(async () => {
      nc = await connect({ servers: NATS_URL });
      jsm = await jetstreamManager(nc);
      js = jetstream(nc);
    });
    afterEach(async () => {
      await consumer?.close();
      consumer = undefined;
      events.length = 0;
      await jsm.streams.delete(streams.stream);
      await jsm.streams.delete(streams.deadStream);
      await pool.query(`DROP TABLE IF EXISTS ${records}, ${ledger}`);
    });
    afterAll(async () => {
      await nc?.close();
      await pool.end();
    });

    /** Fresh streams and tables; the records table only with `migrate`. */
    async function setUp(migrate = true) {
      records = uniqueName('idem_records');
      ledger = uniqueName('idem_ledger');
      streams = await assertStreams(jsm, uniqueName('idem_credits'), {
        duplicateWindowMs: DUPLICATE_WINDOW_MS,
      });
      const store = postgresStore({ pool, table: records });
      if (migrate) await store.migrate();
      await createLedger(pool, ledger);
      consumer = await consumeCredits({
        js,
        streams,
        idem: createIdempotency({ store, logger: false }),
        store,
        ledger,
        retryDelayMs: 50,
        maxDeliveries: MAX_DELIVERIES,
        onSettled: (settled) => events.push(settled),
      });
      return store;
    }

    async function until(done: () => boolean, what: string): Promise<void> {
      for (const deadline = Date.now() + 15_000; !done(); ) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    const of = (id: string) => events.filter((e) => e.messageId === id);

    it('a message whose operation keeps failing is retried, then dead-lettered, and leaves no trace', async () => {
      await setUp();
      const [poison, good] = [randomUUID(), randomUUID()];
      await publishCredits(js, streams.subject, [
        { messageId: poison, credit: { account: 'a', amountCents: 0 } }, // violates the ledger's CHECK
        { messageId: good, credit: { account: 'a', amountCents: 100 } },
      ]);
      await until(() => of(poison).some((e) => e.action === 'dead-letter'), 'the dead letter');
      await until(() => of(good).some((e) => e.action === 'ack'), 'the good message');

      expect(of(poison).map((e) => [e.action, e.deliveries])).toEqual([
        ['retry', 1],
        ['retry', 2],
        ['dead-letter', 3],
      ]);
      const parked = await jsm.streams.getMessage(streams.deadStream, { seq: 1 });
      expect(parked?.header.get('Nats-Msg-Id')).toBe(poison);
      expect(parked?.header.get('Idem-Dead-Letter-Reason')).toMatch(/check constraint/);
      const { byMessage } = await readLedger(pool, ledger);
      expect([...byMessage.keys()]).toEqual([good]);
      // Each failure released its key: only the good message has a record.
      const { rows } = await pool.query(`SELECT state FROM ${records}`);
      expect(rows).toEqual([{ state: 'completed' }]);
    }, 30_000);

    it('a message without an id, or whose body is not a credit, is dead-lettered at once', async () => {
      await setUp();
      await js.publish(streams.subject, '{"account":"a","amountCents":100}');
      await js.publish(streams.subject, 'not json', { msgID: randomUUID() });
      await until(() => events.length === 2, 'both messages');

      expect(events.map((e) => [e.action, e.reason, e.deliveries]).sort()).toEqual([
        ['dead-letter', 'no message id', 1],
        ['dead-letter', 'not a credit', 1],
      ]);
      expect((await jsm.streams.info(streams.deadStream)).state.messages).toBe(2);
      expect((await readLedger(pool, ledger)).rows).toBe(0);
    }, 30_000);

    it('a republish is dropped by JetStream within its window and replayed by idem after it; a reused id with another body is dead-lettered', async () => {
      await setUp();
      const id = randomUUID();
      const credit = { account: 'a', amountCents: 100 };
      await publishCredits(js, streams.subject, [{ messageId: id, credit }]);
      await until(() => of(id).length === 1, 'the first message');
      // Within the duplicate window JetStream itself drops a republish.
      expect(
        (await js.publish(streams.subject, JSON.stringify(credit), { msgID: id })).duplicate,
      ).toBe(true);
      await new Promise((r) => setTimeout(r, 4 * DUPLICATE_WINDOW_MS));
      // After it, the republish is stored and delivered: idem replays it.
      await publishCredits(js, streams.subject, [{ messageId: id, credit }]);
      await until(() => of(id).length === 2, 'the republished message');
      await new Promise((r) => setTimeout(r, 4 * DUPLICATE_WINDOW_MS));
      // A publisher that reuses an id for another message: refused.
      await publishCredits(js, streams.subject, [
        { messageId: id, credit: { account: 'a', amountCents: 999 } },
      ]);
      await until(() => of(id).length === 3, 'the reused id');

      expect(of(id).map((e) => [e.action, e.status ?? e.reason])).toEqual([
        ['ack', 'executed'],
        ['ack', 'replayed'],
        ['dead-letter', 'FINGERPRINT_MISMATCH'],
      ]);
      const { rows } = await pool.query(`SELECT amount_cents FROM ${ledger}`);
      expect(rows).toEqual([{ amount_cents: 100 }]);
    }, 30_000);

    it('while the store is down, messages are retried past maxDeliveries, never dead-lettered, and applied once when it is back', async () => {
      const store = await setUp(false); // no records table: every claim fails
      const ids = Array.from({ length: 10 }, () => randomUUID());
      await publishCredits(
        js,
        streams.subject,
        ids.map((messageId, i) => ({ messageId, credit: { account: 'a', amountCents: 100 + i } })),
      );
      await until(
        () => events.some((e) => e.deliveries > MAX_DELIVERIES),
        `a delivery past maxDeliveries (${MAX_DELIVERIES})`,
      );
      expect(events.every((e) => e.action === 'retry' && e.reason === 'STORE_UNAVAILABLE')).toBe(
        true,
      );
      expect((await readLedger(pool, ledger)).rows).toBe(0);

      await store.migrate();
      await until(() => ids.every((id) => of(id).some((e) => e.action === 'ack')), 'every message');
      expect(events.filter((e) => e.action === 'dead-letter')).toEqual([]);
      const { rows, byMessage } = await readLedger(pool, ledger);
      expect(rows).toBe(ids.length);
      expect([...byMessage.keys()].sort()).toEqual([...ids].sort());
    }, 30_000);
  },
);
