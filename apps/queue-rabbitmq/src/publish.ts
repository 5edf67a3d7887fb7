import { once } from 'node:events';
import type { ConfirmChannel } from 'amqplib';
import type { Credit } from './ledger.ts';

/** A credit and the id its publisher gave it. */
export interface Outgoing {
  /**
   * Minted once per logical message (when the event is created, e.g. in an
   * outbox row) and sent again unchanged on every republish: the consumer's
   * idempotency key.
   */
  readonly messageId: string;
  readonly credit: Credit;
}

/** Publish persistent messages with their `messageId` and wait until the broker confirms them all. */
export async function publishCredits(
  channel: ConfirmChannel,
  queue: string,
  messages: readonly Outgoing[],
): Promise<void> {
  for (const { messageId, credit } of messages) {
    const sent = channel.sendToQueue(queue, Buffer.from(JSON.stringify(credit)), {
      messageId,
      persistent: true,
      contentType: 'application/json',
    });
    if (!sent) await once(channel, 'drain'); // the socket's buffer is full
  }
  await channel.waitForConfirms();
}
