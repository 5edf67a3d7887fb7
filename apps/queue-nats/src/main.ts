// The demo: 100 credits published with their Nats-Msg-Id, then published
// again twice (a publisher resending from its outbox): once within
// JetStream's duplicate window, which drops them, and once after it, which
// stores them again. Two competing consumers take it all; idem replays the
// late republishes. Prints what happened and counts the ledger rows.
//   npx -y pnpm@10 --filter @idem/queue-nats start
import { randomUUID } from 'node:crypto';
import { createIdempotency } from '@idem/core';
import { postgresStore } from '@idem/store-postgres';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { consumeCredits, type Settled } from './consumer.ts';
import { createLedger } from './ledger.ts';
import { assertStreams } from './topology.ts';

const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CREDITS = 100;
const WINDOW_MS = 1_000; // short for the demo; the server's default is 2 minutes

const run = Date.now().toString(36);
const records = `idem_demo_records_${run}`;
const ledger = `idem_demo_ledger_${run}`;

const pool = new pg.Pool({
  connectionString: DATABASE_URL,
  max: 8,
  connectionTimeoutMillis: 5_000,
});
pool.on('error', (error) => console.error('idle pg client failed', error)); // pg needs a listener
const store = postgresStore({ pool, table: records });
const idem = createIdempotency({ store });
const nc = await connect({ servers: NATS_URL });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
const streams = await assertStreams(jsm, `idem_demo_credits_${run}`, {
  duplicateWindowMs: WINDOW_MS,
});

try {
  await store.migrate();
  await createLedger(pool, ledger);
  const credits = Array.from({ length: CREDITS }, (_, i) => ({
    messageId: randomUUID(),
    credit: { account: `acct-${i % 7}`, amountCents: 100 * (i + 1) },
  }));
  const publish = () =>
    Promise.all(
      credits.map(({ messageId, credit }) =>
        js.publish(streams.subject, JSON.stringify(credit), { msgID: messageId }),
      ),
    );
  await publish();
  const dropped = (await publish()).filter((ack) => ack.duplicate).length;
  await new Promise((r) => setTimeout(r, 2 * WINDOW_MS));
  const stored = (await publish()).filter((ack) => !ack.duplicate).length;
  console.log(
    `published ${3 * CREDITS} messages for ${CREDITS} credits: JetStream dropped ${dropped} republishes within its duplicate window and stored ${stored} sent after it`,
  );

  const settled: Settled[] = [];
  const consumers = await Promise.all(
    ['consumer-a', 'consumer-b'].map((name) =>
      consumeCredits({ js, streams, idem, store, ledger, name, onSettled: (s) => settled.push(s) }),
    ),
  );
  while (settled.filter((s) => s.action === 'ack').length < CREDITS + stored) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(consumers.map((c) => c.close()));

  const count = (f: (s: Settled) => boolean) => settled.filter(f).length;
  console.log(
    `deliveries: ${count((s) => s.status === 'executed')} executed, ${count((s) => s.status === 'replayed')} replayed, ${count((s) => s.reason === 'REQUEST_IN_FLIGHT')} redelivered later while the other consumer held the same credit`,
  );
  const { rows } = await pool.query<{ rows: number; messages: number }>(
    `SELECT count(*)::int AS rows, count(DISTINCT message_id)::int AS messages FROM ${ledger}`,
  );
  const { rows: applied, messages } = rows[0]!;
  console.log(
    `ledger: ${applied} rows for ${messages} credits (each applied once: ${applied === CREDITS})`,
  );
  if (applied !== CREDITS || messages !== CREDITS) process.exitCode = 1;
} finally {
  await jsm.streams.delete(streams.stream);
  await jsm.streams.delete(streams.deadStream);
  await nc.drain();
  await pool.query(`DROP TABLE IF EXISTS ${records}, ${ledger}`);
  await pool.end();
}
