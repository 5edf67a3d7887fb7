import { type Idempotency, isIdempotencyError } from '@idem/core';
import type { PostgresStore } from '@idem/store-postgres';
import type { Channel, ConsumeMessage } from 'amqplib';
import { parseCredit } from './ledger.ts';

/** The two moments where a crash matters: see the README's "Crash points". */
export type CrashPoint = 'after-write' | 'before-ack';

/** How one delivery ended. */
export interface Settled {
  readonly messageId: string | undefined;
  /** `ack`: done; `retry`: requeued after a delay; `dead-letter`: parked in the dead-letter queue. */
  readonly action: 'ack' | 'retry' | 'dead-letter';
  /** For `ack`: whether this delivery ran the operation or got the stored result. */
  readonly status?: 'executed' | 'replayed';
  /** For `retry` and `dead-letter`: the idem error code, or what went wrong. */
  readonly reason?: string;
  /** Deliveries of this message so far, this one included. */
  readonly deliveries: number;
}

/** Options of {@link consumeCredits}. */
export interface ConsumerOptions {
  /** A channel of its own; the consumer sets its prefetch. */
  readonly channel: Channel;
  /** The queue to consume (declared with `assertQueues`). */
  readonly queue: string;
  readonly idem: Idempotency;
  /** The store `idem` runs on: the ledger row is written in its transaction. */
  readonly store: PostgresStore;
  /** The ledger table (see `createLedger`). */
  readonly ledger: string;
  /** Written to each ledger row, to tell consumers apart. @default 'consumer' */
  readonly name?: string;
  /** Unacknowledged messages this consumer holds at once. @default 10 */
  readonly prefetch?: number;
  /** First delay before a message is requeued; doubles per delivery, up to 30 s. @default 1000 */
  readonly retryDelayMs?: number;
  /** A message whose operation fails on this delivery or a later one is dead-lettered. @default 10 */
  readonly maxDeliveries?: number;
  /** Called once per delivery when it is settled (logging, metrics, tests). */
  readonly onSettled?: (settled: Settled) => void;
  /**
   * Test seam: awaited at each crash point, so a test can kill the process
   * exactly there. Leave it out in production.
   */
  readonly checkpoint?: (point: CrashPoint, messageId: string) => Promise<void>;
}

/** A running consumer. */
export interface Consumer {
  /** Stop taking messages, let those in hand finish, and close the channel. */
  close(): Promise<void>;
}

const MAX_DELAY_MS = 30_000;

/**
 * Consume credits from `queue`, applying each message once: the ledger row
 * and idem's record commit in one transaction, and the message is acked only
 * after `run` resolved, so a crash at any point leads to a redelivery that
 * either replays the stored result or runs the operation for the first time.
 */
export async function consumeCredits(options: ConsumerOptions): Promise<Consumer> {
  const { channel, queue, idem, store, ledger, onSettled, checkpoint } = options;
  const name = options.name ?? 'consumer';
  const retryDelayMs = options.retryDelayMs ?? 1_000;
  const maxDeliveries = options.maxDeliveries ?? 10;
  const inHand = new Set<Promise<void>>();
  const requeues = new Set<ReturnType<typeof setTimeout>>();

  /** Ack, dead-letter or (later) requeue. Once the channel is gone, the broker requeues it anyway. */
  function settle(message: ConsumeMessage, settled: Settled): void {
    const tell = (act: () => void) => {
      try {
        act();
      } catch {
        // Channel closed: every message it did not ack goes back to the queue.
      }
    };
    if (settled.action === 'ack') tell(() => channel.ack(message));
    else if (settled.action === 'dead-letter') tell(() => channel.nack(message, false, false));
    else {
      // RabbitMQ has no delayed requeue: hold the message, then give it back.
      const delay = Math.min(retryDelayMs * 2 ** (settled.deliveries - 1), MAX_DELAY_MS);
      const timer = setTimeout(() => {
        requeues.delete(timer);
        tell(() => channel.nack(message, false, true));
      }, delay);
      requeues.add(timer);
    }
  }

  async function decide(message: ConsumeMessage): Promise<Settled> {
    const messageId: unknown = message.properties.messageId;
    // Quorum queues count earlier deliveries in x-delivery-count.
    const deliveries = Number(message.properties.headers?.['x-delivery-count'] ?? 0) + 1;
    const credit = parseCredit(message.content);
    if (typeof messageId !== 'string' || messageId === '' || credit === undefined) {
      const reason = credit === undefined ? 'not a credit' : 'no message id';
      const id = typeof messageId === 'string' && messageId !== '' ? messageId : undefined;
      return { messageId: id, action: 'dead-letter', reason, deliveries };
    }
    try {
      const { kind } = await idem.run(
        messageId,
        async (claim) => {
          const tx = await store.transaction(claim); // committed by idem with the record
          await tx.query(
            `INSERT INTO ${ledger} (message_id, account, amount_cents, applied_by) VALUES ($1, $2, $3, $4)`,
            [messageId, credit.account, credit.amountCents, name],
          );
          await checkpoint?.('after-write', messageId);
          return null;
        },
        { scope: queue, payload: credit },
      );
      await checkpoint?.('before-ack', messageId);
      return { messageId, action: 'ack', status: kind, deliveries };
    } catch (error) {
      return { messageId, deliveries, ...verdict(error, deliveries, maxDeliveries) };
    }
  }

  async function handle(message: ConsumeMessage): Promise<void> {
    const settled = await decide(message);
    settle(message, settled);
    try {
      onSettled?.(settled);
    } catch {
      // A throwing listener must not leave the message unsettled or crash the consumer.
    }
  }

  await channel.prefetch(options.prefetch ?? 10);
  const { consumerTag } = await channel.consume(queue, (message) => {
    if (message === null) return; // the queue was deleted
    const handling = handle(message).finally(() => inHand.delete(handling));
    inHand.add(handling);
  });

  return {
    async close() {
      await channel.cancel(consumerTag);
      await Promise.allSettled(inHand);
      for (const timer of requeues) clearTimeout(timer); // closing the channel requeues them
      await channel.close();
    },
  };
}

/**
 * What to do with a message whose `run` threw. Conditions that pass
 * (another consumer holds the message, the store is down, the transaction
 * could not commit) are retried however often they happen; only a message
 * whose own operation keeps failing is dead-lettered.
 */
export function verdict(
  error: unknown,
  deliveries: number,
  maxDeliveries: number,
): Pick<Settled, 'action' | 'reason'> {
  if (
    isIdempotencyError(error, 'REQUEST_IN_FLIGHT') ||
    isIdempotencyError(error, 'STORE_UNAVAILABLE') ||
    isIdempotencyError(error, 'ROLLED_BACK')
  ) {
    return { action: 'retry', reason: error.code };
  }
  // It ran once already, but its result was too large to keep: never again.
  if (isIdempotencyError(error, 'RESPONSE_NOT_STORED'))
    return { action: 'ack', reason: error.code };
  // The same message id with another body: a publisher bug no retry can fix.
  if (isIdempotencyError(error, 'FINGERPRINT_MISMATCH')) {
    return { action: 'dead-letter', reason: error.code };
  }
  // The operation threw: idem released the key and its writes were rolled back.
  const reason = error instanceof Error ? error.message : String(error);
  return { action: deliveries >= maxDeliveries ? 'dead-letter' : 'retry', reason };
}
