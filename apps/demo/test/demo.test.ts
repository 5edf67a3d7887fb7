import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import { describe, expect, it } from 'vitest';
import { PaymentGateway, paymentsApp } from '../src/app.ts';
import { runStorm } from '../src/storm.ts';

// The demo's timings (handlers of 5-60 ms, clients that give up after 40 ms)
// five times over: the same share of timeouts and retries, but a busy machine's
// scheduling delays (tens of ms) no longer time out every attempt, which made
// clients give up on payments and the test depend on an idle machine.
const SCALE = 5;

async function stormAgainst(store: Store | undefined, payments: number) {
  const gateway = new PaymentGateway();
  const app = paymentsApp({
    gateway,
    latencyMs: [5 * SCALE, 60 * SCALE],
    ...(store ? { store } : {}),
  });
  const { server, url } = await new Promise<{ server: ReturnType<typeof serve>; url: string }>(
    (resolve) => {
      const server = serve(
        { fetch: app.fetch, port: 0, hostname: '127.0.0.1' },
        (info: AddressInfo) => resolve({ server, url: `http://127.0.0.1:${info.port}` }),
      );
    },
  );
  try {
    const report = await runStorm({
      baseUrl: url,
      payments,
      client: store ? 'idem' : 'naive',
      timeoutMs: 40 * SCALE,
    });
    await new Promise((r) => setTimeout(r, 100 * SCALE)); // abandoned handlers finish charging
    return { report, gateway };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('demo retry storm', () => {
  it('with idem on the memory store, charges made = payments intended over 1,000+ requests', async () => {
    const payments = 500;
    const { report, gateway } = await stormAgainst(memoryStore(), payments);
    expect(report.requests).toBeGreaterThanOrEqual(1000);
    expect((report.retries + report.concurrentDuplicates) / report.requests).toBeGreaterThanOrEqual(
      0.3,
    );
    expect(report.replays).toBeGreaterThan(0);
    expect(report.confirmed).toBe(payments);
    expect(gateway.total).toBe(payments);
    expect([...gateway.charges.values()].every((n) => n === 1)).toBe(true);
    expect(gateway.charges.size).toBe(payments);
  }, 60_000);

  it('without idem, the same storm double charges (the problem the demo shows)', async () => {
    const payments = 200;
    const { gateway } = await stormAgainst(undefined, payments);
    expect(gateway.total).toBeGreaterThan(payments);
  }, 60_000);
});
