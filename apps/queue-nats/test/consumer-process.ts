// One consumer process of the crash tests: the example's consumer, with its
// crash points wired to the test that forked it (which SIGKILLs it there).
import { consumerProcess } from '@idem/test-queues/child';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { consumeCredits } from '../src/consumer.ts';
import type { Streams } from '../src/topology.ts';

const { link, idem, store, env, serve } = consumerProcess();
const nc = await connect({ servers: env('NATS_URL') });
// Forked ahead as a standby: take messages only once the test needs this process.
await link.started;
const consumer = await consumeCredits({
  js: jetstream(nc),
  streams: JSON.parse(env('STREAMS')) as Streams,
  idem,
  store,
  ledger: env('LEDGER_TABLE'),
  name: link.name,
  retryDelayMs: Number(env('RETRY_DELAY_MS')),
  checkpoint: link.checkpoint,
  onSettled: link.settled,
});
await serve(async () => {
  await consumer.close();
  await nc.drain();
});
