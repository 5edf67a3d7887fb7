import type { Channel } from 'amqplib';

/** The queue a consumer reads and the queue its dead letters go to. */
export interface Queues {
  readonly queue: string;
  /** `<queue>.dead`: messages no retry can fix wait here for an operator. */
  readonly deadLetters: string;
}

/**
 * Declare `queue` and its dead-letter queue (safe to run from every process).
 * Quorum queues: durable, replicated, and they count deliveries
 * (`x-delivery-count`), which the poison-message policy reads; a classic
 * queue only says "redelivered". A message the consumer nacks without
 * requeue is dead-lettered by the broker itself, through the default
 * exchange, to `<queue>.dead`: one broker operation, nothing to lose between
 * two steps.
 */
export async function assertQueues(channel: Channel, queue: string): Promise<Queues> {
  const deadLetters = `${queue}.dead`;
  await channel.assertQueue(deadLetters, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum' },
  });
  await channel.assertQueue(queue, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': deadLetters,
    },
  });
  return { queue, deadLetters };
}
