import { type PolicyQueue, uniqueName } from '@idem/test-queues';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll } from 'vitest';
import { consumeCredits } from '../src/consumer.ts';
import { publishCredits } from '../src/publish.ts';
import { assertStreams, type StreamOptions } from '../src/topology.ts';
import { NATS_URL } from './broker.ts';

/** Streams of the tests' own (with their dead-letter streams), deleted when closed. */
export function testQueues(options: StreamOptions): () => Promise<PolicyQueue> {
  let connected: Promise<{ nc: NatsConnection; jsm: JetStreamManager }> | undefined;
  afterAll(async () => (await connected)?.nc.close());
  return async () => {
    connected ??= connect({ servers: NATS_URL }).then(async (nc) => ({
      nc,
      jsm: await jetstreamManager(nc),
    }));
    const { nc, jsm } = await connected;
    const js = jetstream(nc);
    const streams = await assertStreams(jsm, uniqueName('idem_credits'), options);
    const count = async (name: string) => (await jsm.streams.info(name)).state.messages;
    return {
      env: { NATS_URL, STREAMS: JSON.stringify(streams) },
      publish: (messages) => publishCredits(js, streams.subject, messages),
      async publishRaw(body, messageId) {
        await js.publish(streams.subject, body, messageId ? { msgID: messageId } : {});
      },
      left: async () => ({
        queued: await count(streams.stream),
        deadLettered: await count(streams.deadStream),
      }),
      async parked() {
        const { first_seq, last_seq } = (await jsm.streams.info(streams.deadStream)).state;
        const ids: Array<string | undefined> = [];
        for (let seq = first_seq; seq <= last_seq; seq++) {
          const stored = await jsm.streams.getMessage(streams.deadStream, { seq });
          ids.push(stored?.header.get('Nats-Msg-Id') || undefined);
        }
        return ids;
      },
      consume: (consumer) => consumeCredits({ js, streams, ...consumer }),
      async close() {
        await jsm.streams.delete(streams.stream);
        await jsm.streams.delete(streams.deadStream);
      },
    };
  };
}
