import { type Idempotency, isIdempotencyError } from '@idem/core';
import type { PostgresStore } from '@idem/store-postgres';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers, millis } from '@nats-io/transport-node';
import { parseCredit } from './ledger.ts';
import type { Streams } from './topology.ts';

/** The two moments where a crash matters: see the README's "Crash points". */
export type CrashPoint = 'after-write' | 'before-ack';

/** How one delivery ended. */
export interface Settled {
  readonly messageId: string | undefined;
  /** `ack`: done; `retry`: nak'd with a delay; `dead-letter`: copied to the dead-letter stream and terminated. */
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
  readonly js: JetStreamClient;
  /** The streams and durable consumer made by `assertStreams`. */
  readonly streams: Streams;
  readonly idem: Idempotency;
  /** The store `idem` runs on: the ledger row is written in its transaction. */
  readonly store: PostgresStore;
  /** The ledger table (see `createLedger`). */
  readonly ledger: string;
  /** Written to each ledger row, to tell consumers apart. @default 'consumer' */
  readonly name?: string;
  /** Messages pulled ahead of processing. @default 16 */
  readonly maxMessages?: number;
  /** First delay before a message is redelivered; doubles per delivery, up to 30 s. @default 1000 */
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
  /** Stop pulling, finish the messages already pulled, and return. */
  close(): Promise<void>;
}

const MAX_DELAY_MS = 30_000;

/**
 * Consume credits from the durable consumer, applying each message once: the
 * ledger row and idem's record commit in one transaction, and the message is
 * acked only after `run` resolved, so a crash at any point leads to a
 * redelivery that either replays the stored result or runs the operation for
 * the first time. Messages are handled one at a time; run more processes (or
 * more consumers on one connection) to go faster.
 */
export async function consumeCredits(options: ConsumerOptions): Promise<Consumer> {
  const { js, streams, idem, store, ledger, onSettled, checkpoint } = options;
  const name = options.name ?? 'consumer';
  const retryDelayMs = options.retryDelayMs ?? 1_000;
  const maxDeliveries = options.maxDeliveries ?? 10;
  // Records are per durable consumer: another consumer of the same stream
  // (another purpose) applies its own side effect to the same message.
  const scope = `${streams.stream}/${streams.consumer}`;
  const consumer = await js.consumers.get(streams.stream, streams.consumer);
  const ackWaitMs = millis((await consumer.info(true)).config.ack_wait ?? 30e9); // server default

  async function deadLetter(message: JsMsg, messageId: string, reason: string): Promise<void> {
    const h = headers();
    h.set('Idem-Dead-Letter-Reason', reason);
    h.set('Idem-Original-Sequence', String(message.seq));
    // Published before the term: a crash in between redelivers the message,
    // and the republish carries the same Nats-Msg-Id, which JetStream drops.
    await js.publish(streams.deadSubject, message.data, {
      headers: h,
      ...(messageId ? { msgID: messageId } : {}),
    });
    message.term();
  }

  /** Ack, nak with a delay, or dead-letter; returns what was done. */
  async function settle(message: JsMsg, settled: Settled): Promise<Settled> {
    if (settled.action === 'dead-letter') {
      try {
        await deadLetter(message, settled.messageId ?? '', settled.reason ?? '');
        return settled;
      } catch (error) {
        // The dead-letter stream did not take it: keep the message, try again later.
        settled = { ...settled, action: 'retry', reason: `dead-lettering failed: ${error}` };
      }
    }
    try {
      if (settled.action === 'ack') message.ack();
      else message.nak(Math.min(retryDelayMs * 2 ** (settled.deliveries - 1), MAX_DELAY_MS));
    } catch {
      // The connection is closed: the server redelivers after the ack wait.
    }
    return settled;
  }

  async function decide(message: JsMsg): Promise<Settled> {
    const messageId = message.headers?.get('Nats-Msg-Id') ?? '';
    const deliveries = message.info.deliveryCount;
    const credit = parseCredit(message.data);
    if (messageId === '' || credit === undefined) {
      const reason = credit === undefined ? 'not a credit' : 'no message id';
      return { messageId: messageId || undefined, action: 'dead-letter', reason, deliveries };
    }
    // Tell the server the message is being worked on, as idem renews its lease:
    // a slow operation is not redelivered to another consumer meanwhile.
    const working = setInterval(() => message.working(), ackWaitMs / 3);
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
        { scope, payload: credit },
      );
      await checkpoint?.('before-ack', messageId);
      return { messageId, action: 'ack', status: kind, deliveries };
    } catch (error) {
      return { messageId, deliveries, ...verdict(error, deliveries, maxDeliveries) };
    } finally {
      clearInterval(working);
    }
  }

  const messages = await consumer.consume({ max_messages: options.maxMessages ?? 16 });
  const loop = (async () => {
    for await (const message of messages) {
      const settled = await settle(message, await decide(message));
      try {
        onSettled?.(settled);
      } catch {
        // A throwing listener must not stop the consumer.
      }
    }
  })();

  return {
    async close() {
      await messages.close(); // stops pulling; the loop finishes what was pulled
      await loop;
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
