import { randomUUID } from 'node:crypto';
import { createIdempotency, type Idempotency } from '@idem/core';
import { type PostgresStore, postgresStore } from '@idem/store-postgres';
import type pg from 'pg';
import { afterAll, afterEach, expect, it } from 'vitest';
import type { TestQueue } from './crash-suite.js';
import { readLedger } from './figures.js';
import { testPool, uniqueName } from './postgres.js';
import type { SettledEvent } from './protocol.js';

/** What the example consumer is started with in the policy tests. */
export interface PolicyConsumerOptions {
  readonly idem: Idempotency;
  readonly store: PostgresStore;
  readonly ledger: string;
  readonly retryDelayMs: number;
  readonly maxDeliveries: number;
  readonly onSettled: (settled: SettledEvent) => void;
}

/** A queue of the test's own, with what the policy tests need beyond {@link TestQueue}. */
export interface PolicyQueue extends TestQueue {
  /** Start the example consumer on it, in this process. */
  consume(options: PolicyConsumerOptions): Promise<{ close(): Promise<void> }>;
  /** Publish a raw body, with a message id or without one. */
  publishRaw(body: string, messageId?: string): Promise<void>;
  /** The message ids of the dead letters, in order. */
  parked(): Promise<Array<string | undefined>>;
}

/** What {@link policySuite} needs from an example. */
export interface PolicySuiteOptions {
  open(): Promise<PolicyQueue>;
  createLedger(pool: pg.Pool, table: string): Promise<void>;
}

/** A test's queue, tables and consumer, for an example's own policy tests. */
export interface PolicyContext {
  readonly pool: pg.Pool;
  /** Every settled delivery of the current test. */
  readonly events: SettledEvent[];
  /** A fresh queue, ledger and records table (created only with `migrate`), and the consumer on them. */
  setUp(
    migrate?: boolean,
  ): Promise<{ queue: PolicyQueue; store: PostgresStore; ledger: string; records: string }>;
  /** Poll until `done`, or fail after 15 s naming `what`. */
  until(done: () => boolean, what: string): Promise<void>;
  /** The settled deliveries of one message. */
  of(messageId: string): SettledEvent[];
}

/** Deliveries after which a message whose operation fails is dead-lettered. */
export const MAX_DELIVERIES = 3;

/**
 * What the consumer does with each outcome of `run`, the same for every
 * broker: a poison message, messages it cannot key, and a store that is not
 * there. Call it inside a `describe`; the returned context serves the
 * example's own tests.
 */
export function policySuite(options: PolicySuiteOptions): PolicyContext {
  const pool = testPool(12);
  const events: SettledEvent[] = [];
  let cleanUp: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanUp?.();
    cleanUp = undefined;
    events.length = 0;
  });
  afterAll(() => pool.end());

  const context: PolicyContext = {
    pool,
    events,
    async setUp(migrate = true) {
      const records = uniqueName('idem_records');
      const ledger = uniqueName('idem_ledger');
      const queue = await options.open();
      const store = postgresStore({ pool, table: records });
      if (migrate) await store.migrate();
      await options.createLedger(pool, ledger);
      const consumer = await queue.consume({
        idem: createIdempotency({ store, logger: false }),
        store,
        ledger,
        retryDelayMs: 50,
        maxDeliveries: MAX_DELIVERIES,
        onSettled: (settled) => events.push(settled),
      });
      cleanUp = async () => {
        await consumer.close();
        await queue.close();
        await pool.query(`DROP TABLE IF EXISTS ${records}, ${ledger}`);
      };
      return { queue, store, ledger, records };
    },
    async until(done, what) {
      for (const deadline = Date.now() + 15_000; !done(); ) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    of: (messageId) => events.filter((e) => e.messageId === messageId),
  };
  const { setUp, until, of } = context;

  it('a message whose operation keeps failing is retried, then dead-lettered, and leaves no trace', async () => {
    const { queue, ledger, records } = await setUp();
    const [poison, good] = [randomUUID(), randomUUID()];
    await queue.publish([
      { messageId: poison, credit: { account: 'a', amountCents: 0 } }, // violates the ledger's CHECK
      { messageId: good, credit: { account: 'a', amountCents: 100 } },
    ]);
    await until(() => of(poison).some((e) => e.action === 'dead-letter'), 'the dead letter');
    await until(() => of(good).some((e) => e.action === 'ack'), 'the good message');

    expect(of(poison).map((e) => [e.action, e.deliveries])).toEqual([
      ['retry', 1],
      ['retry', 2],
      ['dead-letter', MAX_DELIVERIES],
    ]);
    expect(of(poison).at(-1)?.reason).toMatch(/check constraint/);
    expect(await queue.parked()).toEqual([poison]);
    const { byMessage } = await readLedger(pool, ledger);
    expect([...byMessage.keys()]).toEqual([good]);
    // Each failure released its key: only the good message has a record.
    const { rows } = await pool.query(`SELECT state FROM ${records}`);
    expect(rows).toEqual([{ state: 'completed' }]);
    expect(await queue.left()).toEqual({ queued: 0, deadLettered: 1 });
  }, 30_000);

  it('a message without an id, or whose body is not a credit, is dead-lettered at once', async () => {
    const { queue, ledger } = await setUp();
    const id = randomUUID();
    await queue.publishRaw('{"account":"a","amountCents":100}');
    await queue.publishRaw('not json', id);
    await until(() => events.length === 2, 'both messages');

    expect(events.map((e) => [e.action, e.reason, e.deliveries]).sort()).toEqual([
      ['dead-letter', 'no message id', 1],
      ['dead-letter', 'not a credit', 1],
    ]);
    expect((await queue.parked()).sort()).toEqual([id, undefined]);
    expect((await readLedger(pool, ledger)).rows).toBe(0);
  }, 30_000);

  it('while the store is down, messages are retried past maxDeliveries, never dead-lettered, and applied once when it is back', async () => {
    const { queue, store, ledger } = await setUp(false); // no records table: every claim fails
    const ids = Array.from({ length: 10 }, () => randomUUID());
    await queue.publish(
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

  return context;
}
