import { type PolicyQueue, uniqueName } from '@idem/test-queues';
import amqp from 'amqplib';
import { afterAll } from 'vitest';
import { consumeCredits } from '../src/consumer.ts';
import { publishCredits } from '../src/publish.ts';
import { assertQueues } from '../src/topology.ts';
import { AMQP_URL } from './broker.ts';

/** Queues of the tests' own (with their dead-letter queues), deleted when closed. */
export function testQueues(): () => Promise<PolicyQueue> {
  let connection: Promise<amqp.ChannelModel> | undefined;
  afterAll(async () => (await connection)?.close());
  return async () => {
    connection ??= amqp.connect(AMQP_URL);
    const c = await connection;
    const channel = await c.createConfirmChannel();
    const { queue, deadLetters } = await assertQueues(channel, uniqueName('idem_credits'));
    const count = async (name: string) => (await channel.checkQueue(name)).messageCount;
    return {
      env: { AMQP_URL, QUEUE: queue },
      publish: (messages) => publishCredits(channel, queue, messages),
      async publishRaw(body, messageId) {
        channel.sendToQueue(queue, Buffer.from(body), messageId ? { messageId } : {});
        await channel.waitForConfirms();
      },
      left: async () => ({ queued: await count(queue), deadLettered: await count(deadLetters) }),
      async parked() {
        const ids: Array<string | undefined> = [];
        for (
          let m = await channel.get(deadLetters);
          m !== false;
          m = await channel.get(deadLetters)
        ) {
          ids.push(m.properties.messageId);
        }
        channel.nackAll(true); // put them back
        return ids;
      },
      consume: async (options) =>
        consumeCredits({ channel: await c.createChannel(), queue, ...options }),
      async close() {
        await channel.deleteQueue(queue);
        await channel.deleteQueue(deadLetters);
        await channel.close();
      },
    };
  };
}
