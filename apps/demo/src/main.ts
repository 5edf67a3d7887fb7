import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { PaymentGateway, paymentsApp } from './app.ts';
import { openStore, storeKind } from './stores.ts';
import { runStorm, type StormReport } from './storm.ts';

const payments = Number(process.env.DEMO_PAYMENTS ?? 500);
const kind = storeKind(process.env.IDEM_STORE);

function listen(
  fetch: (req: Request) => Response | Promise<Response>,
): Promise<{ url: string; server: ServerType }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve({ url: `http://127.0.0.1:${info.port}`, server }),
    );
  });
}

async function storm(
  store: Parameters<typeof paymentsApp>[0]['store'],
  onCharged?: Parameters<typeof paymentsApp>[0]['onCharged'],
) {
  const gateway = new PaymentGateway();
  const app = paymentsApp({
    gateway,
    ...(store ? { store } : {}),
    ...(onCharged ? { onCharged } : {}),
  });
  const { url, server } = await listen(app.fetch);
  const report = await runStorm({ baseUrl: url, payments, client: store ? 'idem' : 'naive' });
  await new Promise((r) => server.close(r));
  // Handlers abandoned by timed-out clients may still be charging: let them finish.
  await new Promise((r) => setTimeout(r, 100));
  const doubled = [...gateway.charges.values()].filter((n) => n > 1).length;
  return { report, charges: gateway.total, doubled };
}

const n = (x: number) => x.toLocaleString('en-US');
const pct = (x: number, of: number) => `${Math.round((100 * x) / Math.max(1, of))}%`;

function row(label: string, a: string, b: string) {
  console.log(`  ${label.padEnd(34)}${a.padStart(14)}${b.padStart(26)}`);
}

const demoStore = await openStore(kind);
console.log(`\nidem demo: ${n(payments)} card payments over a bad network`);
console.log(
  '  (25% of responses lost, 40 ms client timeout vs 5-60 ms handler, 30% double-clicks)',
);
console.log(
  '  without idem: a hand-written retry loop, no keys; with idem: @idem/client retrying against @idem/hono\n',
);

const bare = await storm(undefined);
const idem = await storm(demoStore.store, demoStore.onCharged);

const dup = (r: StormReport) => r.retries + r.concurrentDuplicates;
row('', 'without idem', `with idem (${demoStore.label.split(' ')[0]})`);
row('requests sent', n(bare.report.requests), n(idem.report.requests));
row(
  '  retries + concurrent duplicates',
  `${n(dup(bare.report))} (${pct(dup(bare.report), bare.report.requests)})`,
  `${n(dup(idem.report))} (${pct(dup(idem.report), idem.report.requests)})`,
);
row(
  '  responses lost or timed out',
  n(bare.report.lostResponses + bare.report.timeouts),
  n(idem.report.lostResponses + idem.report.timeouts),
);
row('replays (Idempotent-Replayed)', '-', n(idem.report.replays));
row('409 still in progress', '-', n(idem.report.conflicts));
row('payments intended', n(payments), n(payments));
row('payments confirmed to the client', n(bare.report.confirmed), n(idem.report.confirmed));
row('charges made', n(bare.charges), n(idem.charges));
row('customers charged more than once', n(bare.doubled), n(idem.doubled));
if (demoStore.report) console.log(`\n  ${await demoStore.report()}`);
await demoStore.close();

const ok = idem.charges === payments && idem.doubled === 0;
console.log(
  ok
    ? `\n  OK: with idem, charges made = payments intended (${n(payments)}); without it, ${n(bare.charges - payments)} extra charges.\n`
    : `\n  FAILED: with idem, ${n(idem.charges)} charges for ${n(payments)} payments.\n`,
);
process.exit(ok ? 0 : 1);
