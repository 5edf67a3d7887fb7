import { AckPolicy, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';

/** Where credits are published, consumed, and parked when no retry can help. */
export interface Streams {
  /** The work-queue stream: a message is deleted once acked. */
  readonly stream: string;
  /** Publish credits here: `<stream>.credits`. */
  readonly subject: string;
  /** The durable consumer every consumer process pulls from (they compete). */
  readonly consumer: string;
  /** Dead letters go to `<stream>_dead.credits`, kept by the stream `<stream>_dead`. */
  readonly deadStream: string;
  readonly deadSubject: string;
}

/** Options of {@link assertStreams}. */
export interface StreamOptions {
  /**
   * How long the server waits for an ack before redelivering: what a
   * crashed consumer costs its messages. The consumer keeps it alive
   * (`working()`) while an operation runs.
   * @default 30_000
   */
  readonly ackWaitMs?: number;
  /**
   * How long JetStream remembers a `Nats-Msg-Id` and drops a republish with
   * it; idem catches every republish after that, for its TTL.
   * @default 120_000 (the server's default)
   */
  readonly duplicateWindowMs?: number;
}

/**
 * Create the stream, its durable consumer and the dead-letter stream (safe to
 * run from every process while the options stay the same). `max_deliver` is
 * unlimited: the consumer decides what is poison (see the README), so a store
 * outage never exhausts a message's deliveries.
 */
export async function assertStreams(
  jsm: JetStreamManager,
  stream: string,
  options: StreamOptions = {},
): Promise<Streams> {
  const streams: Streams = {
    stream,
    subject: `${stream}.credits`,
    consumer: 'credits',
    deadStream: `${stream}_dead`,
    deadSubject: `${stream}_dead.credits`,
  };
  await jsm.streams.add({
    name: stream,
    subjects: [streams.subject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(options.duplicateWindowMs ?? 120_000),
  });
  await jsm.streams.add({
    name: streams.deadStream,
    subjects: [streams.deadSubject],
    storage: StorageType.File,
  });
  await jsm.consumers.add(stream, {
    durable_name: streams.consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(options.ackWaitMs ?? 30_000),
    max_deliver: -1,
  });
  return streams;
}
