import { stopLocalAws } from './local-aws.ts';
import { retryStorm, type StormReport } from './storm.ts';

const line = (label: string, value: string | number) =>
  `  ${label.padEnd(46)}${String(value).padStart(6)}`;

/** The storm's report as the terminal shows it. */
export function formatReport({ store, payments: p, credits: c }: StormReport): string {
  return [
    `store: ${store}`,
    '',
    `POST /payments (HTTP API, payload 2.0): ${p.intended} payments, one Idempotency-Key each`,
    line('deliveries (invocations)', p.deliveries),
    line('  201, first run (answer lost, client gave up)', p.lost),
    line('  409 in flight (Retry-After)', p.inFlight),
    line('  201 replayed (Idempotent-Replayed: true)', p.replayed),
    line("    carrying the first run's payment", p.replayedSamePayment),
    line('  other statuses', p.other),
    line('payments intended', p.intended),
    line('charges made', p.charges),
    '',
    `SQS credits queue: one batch of ${c.intended} credits, delivered twice`,
    ...c.deliveries.map(
      (d, i) =>
        `  delivery ${i + 1}: ${d.records} records, ${d.appliedNow} applied now, reported in batchItemFailures: [${d.failed.join(', ')}]`,
    ),
    line('credits intended', c.intended),
    line('credits applied', c.applied),
  ].join('\n');
}

const report = await retryStorm().finally(stopLocalAws);
console.log(formatReport(report));
const twice = [...report.payments.doubleCharged, ...report.credits.doubleApplied];
if (twice.length > 0) {
  console.error(`\nFAILED: ran more than once: ${twice.join(', ')}`);
  process.exitCode = 1;
} else {
  console.log('\nEvery payment charged once and every credit applied once.');
}
