import type { JetStreamClient } from '@nats-io/jetstream';
import type { Credit } from './ledger.ts';

/** A credit and the id its publisher gave it. */
export interface Outgoing {
  /**
   * Minted once per logical message (when the event is created, e.g. in an
   * outbox row) and sent again unchanged on every republish. Sent as
   * `Nats-Msg-Id`: JetStream drops a republish within its duplicate window,
   * and idem, keyed on the same id, catches every later one.
   */
  readonly messageId: string;
  readonly credit: Credit;
}

/** Publish credits with their ids and wait until JetStream stored them all. */
export async function publishCredits(
  js: JetStreamClient,
  subject: string,
  messages: readonly Outgoing[],
): Promise<void> {
  await Promise.all(
    messages.map(({ messageId, credit }) =>
      js.publish(subject, JSON.stringify(credit), { msgID: messageId }),
    ),
  );
}
