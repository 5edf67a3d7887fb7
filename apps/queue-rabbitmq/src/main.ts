// The demo: 100 credits, each published twice with the same messageId (a
// publisher that resent after a lost confirm), consumed by two competing
// consumers. Prints what each delivery did and counts the ledger rows.
//   npx -y pnpm@10 --filter @idem/queue-rabbitmq start
import { randomUUID } from 'node:crypto';
import { createIdempotency } from '@idem/core';
import { postgresStore } from '@idem/store-postgres';
import amqp from 'amqplib';
import pg from 'pg';
import { consumeCredits, type Settled } from './consumer.ts';
import { createLedger } from './ledger.ts';
import { publishCredits } from './publish.ts';
import { assertQueues } from './topology.ts';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CREDITS = 100;

const run = Date.now().toString(36);
const queue = `idem_demo_credits_${run}`;
const records = `idem_demo_records_${run}`;
const ledger = `idem_demo_ledger_${run}`;

const pool = new pg.Pool({
  connectionString: DATABASE_URL,
  max: 24,
  connectionTimeoutMillis: 5_000,
});
pool.on('error', (error) => console.error('idle pg client failed', error)); // pg needs a listener
const store = postgresStore({ pool, table: records });
const idem = createIdempotency({ store });
const connection = await amqp.connect(AMQP_URL);
const publisher = await connection.createConfirmChannel();
const { deadLetters } = await assertQueues(publisher, queue);

try {
  await store.migrate();
  await createLedger(pool, ledger);
  const credits = Array.from({ length: CREDITS }, (_, i) => ({
    messageId: randomUUID(),
    credit: { account: `acct-${i % 7}`, amountCents: 100 * (i + 1) },
  }));
  await publishCredits(publisher, queue, [...credits, ...credits]);
  console.log(`published ${2 * CREDITS} messages: ${CREDITS} credits, each sent twice`);

  const settled: Settled[] = [];
  const consumers = await Promise.all(
    ['consumer-a', 'consumer-b'].map(async (name) =>
      consumeCredits({
        channel: await connection.createChannel(),
        queue,
        idem,
        store,
        ledger,
        name,
        onSettled: (s) => settled.push(s),
      }),
    ),
  );
  while (settled.filter((s) => s.action === 'ack').length < 2 * CREDITS) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(consumers.map((c) => c.close()));

  const count = (f: (s: Settled) => boolean) => settled.filter(f).length;
  console.log(
    `deliveries: ${count((s) => s.status === 'executed')} executed, ${count((s) => s.status === 'replayed')} replayed, ${count((s) => s.reason === 'REQUEST_IN_FLIGHT')} requeued while the other consumer held the same message`,
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
  await publisher.deleteQueue(queue);
  await publisher.deleteQueue(deadLetters);
  await connection.close();
  await pool.query(`DROP TABLE IF EXISTS ${records}, ${ledger}`);
  await pool.end();
}
