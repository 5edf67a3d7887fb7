import type { Server } from 'node:http';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { idempotency } from '@idem/hono';
import { cpuPressure } from '@idem/test-pressure';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';
import { connect, freshPrefix, redisUp, sleep, url } from './helpers.js';

/**
 * The circuit breaker against a store that stops answering: a TCP proxy in
 * front of Redis that, mid-run, holds every byte either way (a network
 * partition, a hung primary: the connection stays up, nothing comes back),
 * then lets them through again. A steady stream of payments over HTTP
 * (@idem/hono), each retried with its key until it gets a 2xx, under CPU
 * pressure. Measured: how long protected requests take once the breaker is
 * open, how long after the store returns the breaker closes, and that no
 * payment ran twice across the outage.
 */

const STORE_TIMEOUT_MS = 3_000;
const PROBE_EVERY_MS = 1_000; // the default
const OUTAGE_MS = 10_000;
const PER_SECOND = 25; // new payments

/** A loopback TCP proxy to Redis that can hold every byte, and let them through later. */
async function holdingProxy(target: URL) {
  let holding = false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (holding) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
    from.on('close', () => to.destroy());
    from.on('error', () => {});
  };
  const server = createServer((client) => {
    const upstream = createConnection(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const send of held.splice(0)) send();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Sample {
  readonly sentAt: number;
  readonly ms: number;
  readonly status: number;
}

interface Outcome {
  readonly samples: Sample[];
  readonly runs: Map<string, number>;
  readonly answered: Set<string>;
  readonly payments: number;
  readonly heldAt: number;
  readonly releasedAt: number;
  readonly openedAt: number | undefined;
  readonly closedAt: number | undefined;
  /** The most requests the server held open at once. */
  readonly mostOpen: number;
  readonly worstLagMs: number;
  readonly pressure: string;
}

/** One run: payments flow, the store is held for OUTAGE_MS, then it returns and the run drains. */
async function outage(breaker: boolean): Promise<Outcome> {
  const proxy = await holdingProxy(new URL(url));
  // No command timeout of the client's own: the engine's storeTimeoutMs is what a request waits.
  const client = await connect({ maxRetriesPerRequest: 1 }, proxy.url);
  const runs = new Map<string, number>();
  let openedAt: number | undefined;
  let closedAt: number | undefined;
  const samples: Sample[] = [];
  let open = 0;
  let mostOpen = 0;
  const app = new Hono();
  // Timed in the server: how long idem holds each request, whatever the test's own client adds.
  app.use('/payments', async (c, next) => {
    const sentAt = Date.now();
    mostOpen = Math.max(mostOpen, ++open);
    await next();
    open--;
    samples.push({ sentAt, ms: Date.now() - sentAt, status: c.res.status });
  });
  app.use(
    '/payments',
    idempotency({
      store: redisStore({ client, prefix: freshPrefix('breaker') }),
      scope: () => 'breaker',
      storeTimeoutMs: STORE_TIMEOUT_MS,
      ...(breaker ? {} : { breaker: false as const }),
      logger: false,
      hooks: {
        breakerOpened: () => {
          openedAt ??= Date.now();
        },
        breakerClosed: () => {
          closedAt ??= Date.now();
        },
      },
    }),
  );
  app.post('/payments', async (c) => {
    const { reference } = await c.req.json<{ reference: string }>();
    runs.set(reference, (runs.get(reference) ?? 0) + 1);
    await sleep(5 + Math.random() * 15); // the payment provider's call
    return c.json({ reference }, 201);
  });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/payments`;
  const answered = new Set<string>();
  let payments = 0;
  let stopping = false;
  const pressure = cpuPressure();
  try {
    // A steady stream: PER_SECOND new payments a second, whatever the answers;
    // each is retried with its key until it gets a 2xx.
    const pay = async (reference: string) => {
      for (;;) {
        const response = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': reference },
          body: JSON.stringify({ reference }),
        });
        await response.arrayBuffer();
        if (response.status < 300) {
          answered.add(reference);
          return;
        }
        // As a well-behaved client: after Retry-After (1 s on 503 and 409).
        await sleep(Number(response.headers.get('retry-after') ?? 0.2) * 1_000);
      }
    };
    const started: Array<Promise<void>> = [];
    const streamStart = Date.now();
    const stream = (async () => {
      while (!stopping) {
        // Catch up after a late timer: the rate holds on a busy event loop too.
        const due = Math.floor(((Date.now() - streamStart) * PER_SECOND) / 1_000);
        while (payments < due) started.push(pay(`p${payments++}`));
        await sleep(1_000 / PER_SECOND);
      }
    })();
    await sleep(1_000);
    const heldAt = Date.now();
    proxy.hold();
    await sleep(OUTAGE_MS);
    const releasedAt = Date.now();
    proxy.release();
    await sleep(3_000);
    stopping = true;
    await stream;
    await Promise.all(started);
    return {
      samples,
      runs,
      answered,
      payments,
      heldAt,
      releasedAt,
      openedAt,
      closedAt,
      mostOpen,
      worstLagMs: pressure.worstLagMs,
      pressure: pressure.summary(),
    };
  } finally {
    await pressure.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    client.disconnect();
    await proxy.close();
  }
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
};

const countStatuses = (samples: Sample[]) =>
  samples.reduce<Record<number, number>>((all, s) => {
    all[s.status] = (all[s.status] ?? 0) + 1;
    return all;
  }, {});

const up = await redisUp();

describe.skipIf(!up)('the breaker against a Redis that stops answering (ioredis, Hono)', () => {
  let withBreaker: Outcome;
  let without: Outcome;
  beforeAll(async () => {
    withBreaker = await outage(true);
    without = await outage(false);
  }, 60_000);
  afterAll(() => {});

  it('answers protected requests at once while open, closes within a probe interval of the store returning, and runs nothing twice', async ({
    annotate,
  }) => {
    const { samples, runs, answered, heldAt, releasedAt, openedAt, closedAt } = withBreaker;
    expect(openedAt, 'the breaker opened').toBeDefined();
    expect(closedAt, 'the breaker closed').toBeDefined();
    const whileOpen = samples.filter((s) => s.sentAt >= openedAt! && s.sentAt < releasedAt);
    const latencies = whileOpen.map((s) => s.ms);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const recoveryMs = closedAt! - releasedAt;
    const firstOk = samples.find((s) => s.sentAt >= releasedAt && s.status < 300);
    const twice = [...runs.values()].filter((n) => n > 1).length;
    const statuses = countStatuses(whileOpen);
    const held = without.samples.filter(
      (s) => s.sentAt >= without.heldAt && s.sentAt < without.releasedAt - STORE_TIMEOUT_MS,
    );
    const baseline = held.map((s) => s.ms);
    await annotate(
      [
        `breaker: store held ${OUTAGE_MS} ms; opened ${openedAt! - heldAt} ms after the hold`,
        `while open: ${whileOpen.length} protected requests, p50 ${p50} ms, p99 ${p99} ms, max ${Math.max(...latencies)} ms, statuses ${JSON.stringify(statuses)}, at most ${withBreaker.mostOpen} held open at once`,
        `breaker off, same outage: ${baseline.length} requests, p50 ${percentile(baseline, 50)} ms, p99 ${percentile(baseline, 99)} ms, statuses ${JSON.stringify(countStatuses(held))}, at most ${without.mostOpen} held open at once`,
        `recovery: breaker closed ${recoveryMs} ms after the store returned; first 2xx ${firstOk ? firstOk.sentAt + firstOk.ms - releasedAt : 'never'} ms after`,
        `payments: ${answered.size} answered 2xx of ${withBreaker.payments} begun, ${runs.size} executed, ${twice} twice`,
        withBreaker.pressure,
      ].join('\n  '),
      'figures',
    );
    // Enough requests that the probes (one every few seconds, each waiting for the store) are under 1 %.
    expect(whileOpen.length).toBeGreaterThan(200);
    // Well below the store time limit: the probe (one request in hundreds) is the only one that waits.
    expect(p99).toBeLessThan(STORE_TIMEOUT_MS / 4);
    // A probe at most an interval away, plus however late this busy event loop runs.
    expect(recoveryMs).toBeLessThan(2 * PROBE_EVERY_MS + withBreaker.worstLagMs);
    expect(twice).toBe(0);
    // Every payment begun before the end got its answer, from its one execution.
    for (const reference of answered) expect(runs.get(reference)).toBe(1);
  });

  it('without it, the same outage holds every protected request for the store time limit', () => {
    const baseline = without.samples
      .filter((s) => s.sentAt >= without.heldAt && s.sentAt < without.releasedAt - STORE_TIMEOUT_MS)
      .map((s) => s.ms);
    expect(percentile(baseline, 50)).toBeGreaterThan(1_500);
    expect([...without.runs.values()].filter((n) => n > 1)).toEqual([]);
  });
});
