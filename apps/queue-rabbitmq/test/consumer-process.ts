// One consumer process of the crash tests: the example's consumer, with its
// crash points wired to the test that forked it (which SIGKILLs it there).
import { consumerProcess } from '@idem/test-queues/child';
import amqp from 'amqplib';
import { consumeCredits } from '../src/consumer.ts';

const { link, idem, store, env, serve } = consumerProcess();
const connection = await amqp.connect(env('AMQP_URL'));
// Forked ahead as a standby: take messages only once the test needs this process.
await link.started;
const consumer = await consumeCredits({
  channel: await connection.createChannel(),
  queue: env('QUEUE'),
  idem,
  store,
  ledger: env('LEDGER_TABLE'),
  name: link.name,
  prefetch: 8,
  retryDelayMs: Number(env('RETRY_DELAY_MS')),
  checkpoint: link.checkpoint,
  onSettled: link.settled,
});
await serve(async () => {
  await consumer.close();
  await connection.close();
});
