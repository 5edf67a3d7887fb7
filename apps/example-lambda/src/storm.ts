import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  SQSEvent,
} from 'aws-lambda';
import * as ledger from './ledger.ts';
import { invocationContext, type LocalAws, localAws } from './local-aws.ts';

const sample = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../events/${name}`, import.meta.url), 'utf8')) as T;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long the payments client waits for an answer before it gives up and retries, in ms. */
const CLIENT_TIMEOUT_MS = 100;
/** Retries after a `409`, each after its Retry-After, before the client gives the payment up. */
const MAX_RETRIES = 5;
/** The account the ledger cannot reach on its first credit: that record fails once. */
const FLAKY_ACCOUNT = 'acct-3';

/** What the storm did, and what it cost. */
export interface StormReport {
  readonly store: string;
  readonly payments: {
    readonly intended: number;
    readonly deliveries: number;
    /** First runs whose answer the client never saw (it gave up after 100 ms). */
    readonly lost: number;
    /** `409` answers to duplicates sent while the first run was charging. */
    readonly inFlight: number;
    /** `201` answers replayed from the store (`Idempotent-Replayed: true`). */
    readonly replayed: number;
    /** Replays that carried the payment the first run made. */
    readonly replayedSamePayment: number;
    /** Answers of any other status (none expected). */
    readonly other: number;
    readonly charges: number;
    /** References charged more than once. */
    readonly doubleCharged: readonly string[];
  };
  readonly credits: {
    readonly intended: number;
    readonly applied: number;
    /** Credit ids applied more than once. */
    readonly doubleApplied: readonly string[];
    readonly deliveries: readonly {
      readonly records: number;
      /** Credits the ledger applied during this delivery. */
      readonly appliedNow: number;
      /** The `batchItemFailures` answered, as credit ids (Lambda gets message ids). */
      readonly failed: readonly string[];
    }[];
  };
}

/**
 * The retry storm, in-process against the handlers as deployed: a few
 * payments, each delivered as AWS's HTTP API payload 2.0 event four times
 * (a first run whose answer is lost, two duplicates at once while it
 * charges, a retry after `Retry-After`), and a batch of credits delivered
 * twice by SQS with one record failing the first time. Ids are new on each
 * call, so it may run more than once per process.
 */
export async function retryStorm(options: { payments?: number } = {}): Promise<StormReport> {
  const aws = await localAws();
  // As Lambda's runtime does at a cold start: the module loads once the environment is set.
  const handlers = await import('./handlers.ts');
  const run = randomUUID().slice(0, 8);
  const [payments, credits] = await Promise.all([
    paymentStorm(handlers.payments, run, options.payments ?? 5),
    creditDeliveries(handlers.credits, run),
  ]);
  return { store: storeLabel(aws), payments, credits };
}

const storeLabel = (aws: LocalAws) => `DynamoDB (dynalite at ${aws.endpoint}, table ${aws.table})`;

type PaymentsHandler = typeof import('./handlers.ts')['payments'];
type CreditsHandler = typeof import('./handlers.ts')['credits'];
type Result = APIGatewayProxyStructuredResultV2;

async function paymentStorm(
  handler: PaymentsHandler,
  run: string,
  count: number,
): Promise<StormReport['payments']> {
  const template = sample<APIGatewayProxyEventV2>('payment.json');
  const tally = {
    deliveries: 0,
    lost: 0,
    inFlight: 0,
    replayed: 0,
    replayedSamePayment: 0,
    other: 0,
  };
  const references = Array.from({ length: count }, (_, i) => `order-${run}-${i + 1}`);

  // Each delivery is its own event, as API Gateway builds one per request.
  const deliver = (reference: string, key: string) => {
    tally.deliveries++;
    const event: APIGatewayProxyEventV2 = structuredClone(template);
    event.headers['idempotency-key'] = key;
    event.body = JSON.stringify({ reference, amountCents: 1299 });
    event.requestContext.requestId = randomUUID();
    event.requestContext.timeEpoch = Date.now();
    // A function that throws is a 502 at the gateway, and the client retries.
    return (handler(event, invocationContext('payments')) as Promise<Result>).catch(
      (error: unknown): Result => ({ statusCode: 502, body: String(error) }),
    );
  };

  const onePayment = async (reference: string) => {
    // One key per payment, minted by the client before its first attempt.
    const key = randomUUID();
    // The client gives up after 100 ms, long before the charge ends: the
    // function runs on and charges, and its answer is lost.
    const first = deliver(reference, key);
    let settled = false;
    void first.finally(() => {
      settled = true;
    });
    await sleep(CLIENT_TIMEOUT_MS);
    // The duplicates below are of a request being run: on a loaded machine the
    // first invocation may not have reached the charge in 100 ms, so wait for it.
    while (!ledger.charges.has(reference) && !settled) await sleep(5);
    // It retries, twice at once (a retry and a double-click), while the charge runs,
    // then after each Retry-After until it has an answer.
    const retries: Result[] = [];
    let answers: Result[] = await Promise.all([deliver(reference, key), deliver(reference, key)]);
    for (let attempt = 0; ; attempt++) {
      retries.push(...answers);
      const waiting = answers.find((a) => a.statusCode === 409);
      if (!waiting || attempt === MAX_RETRIES) break;
      await sleep(Number(waiting.headers?.['retry-after'] ?? 1) * 1000);
      answers = [await deliver(reference, key)];
    }
    const original = await first;
    if (original.statusCode === 201) tally.lost++;
    else tally.other++;
    for (const answer of retries) {
      if (answer.statusCode === 409) tally.inFlight++;
      else if (answer.statusCode === 201 && answer.headers?.['idempotent-replayed'] === 'true') {
        tally.replayed++;
        if (answer.body === original.body) tally.replayedSamePayment++;
      } else tally.other++;
    }
  };

  await Promise.all(references.map(onePayment));
  const counts = references.map((reference) => ledger.charges.get(reference) ?? 0);
  return {
    intended: count,
    ...tally,
    charges: counts.reduce((sum, n) => sum + n, 0),
    doubleCharged: references.filter((_, i) => counts[i]! > 1),
  };
}

async function creditDeliveries(
  handler: CreditsHandler,
  run: string,
): Promise<StormReport['credits']> {
  const batch = sample<SQSEvent>('credits.json');
  // This run's ids: the same on both deliveries, as SQS redelivers a message.
  for (const record of batch.Records) {
    const credit = JSON.parse(record.body) as ledger.Credit;
    record.body = JSON.stringify({ ...credit, creditId: `${credit.creditId}-${run}` });
    record.messageId = randomUUID();
  }
  const creditOf = new Map(
    batch.Records.map((r) => [r.messageId, JSON.parse(r.body).creditId as string]),
  );
  const ids = [...creditOf.values()];
  const applied = () => ids.reduce((sum, id) => sum + (ledger.credits.get(id) ?? 0), 0);
  ledger.failNextCredits(FLAKY_ACCOUNT, 1);

  const deliveries: StormReport['credits']['deliveries'][number][] = [];
  // Delivery 1, then the whole batch again: SQS sends it back when an
  // invocation fails or times out after its records ran.
  for (const receiveCount of [1, 2]) {
    const event: SQSEvent = structuredClone(batch);
    for (const record of event.Records) {
      record.attributes.ApproximateReceiveCount = String(receiveCount);
      record.receiptHandle = `${record.receiptHandle.slice(0, 12)}${randomUUID()}`;
    }
    const before = applied();
    const answer = await handler(event, invocationContext('credits'));
    deliveries.push({
      records: event.Records.length,
      appliedNow: applied() - before,
      failed: answer.batchItemFailures.map(
        (f) => creditOf.get(f.itemIdentifier) ?? f.itemIdentifier,
      ),
    });
  }
  return {
    intended: ids.length,
    applied: applied(),
    doubleApplied: ids.filter((id) => (ledger.credits.get(id) ?? 0) > 1),
    deliveries,
  };
}
