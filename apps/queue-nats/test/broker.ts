import { reachServer } from '@idem/conformance';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** The test server, with JetStream, as on the dev machines and in .ci/run. */
export const NATS_URL: string = process.env.NATS_URL ?? '127.0.0.1:4222';

/** Whether NATS with JetStream answers: skips loudly locally, throws under CI=true. */
export function reachNats(): Promise<boolean> {
  return reachServer('NATS JetStream', NATS_URL, async () => {
    const nc = await connect({ servers: NATS_URL, timeout: 3_000 });
    try {
      await (await jetstreamManager(nc)).getAccountInfo(); // fails if JetStream is off
    } finally {
      await nc.close();
    }
  });
}
