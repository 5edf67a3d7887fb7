import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { createIdempotentFetch, idempotencyInfo, type RetryEvent } from '../src/index.js';
import { faultProxy, randomFaults, seededRandom } from './fault-proxy.js';
import { ADAPTERS, startPayments } from './payments.js';

/**
 * The whole protocol over a bad network: the client and a real idem server on
 * each adapter and store, with a fault-injecting TCP proxy between them that
 * drops answers the server already gave, resets connections in the middle of
 * answers, and delays requests and answers past the client's attempt timeout.
 * Every payment must be charged exactly once and end in a 201 at the client.
 *
 * PROXY_SEED=<n> replays a run (each test carries its seed, and its figures, as
 * annotations: printed with a failure, and by `--reporter=verbose`);
 * PROXY_PAYMENTS sets the payments per configuration.
 */

// Memory, and Redis when it answers at REDIS_URL (CI=true: it must). Each run
// has its own key prefix, deleted afterwards.
const stores = await reachableStores({ label: 'client', only: ['memory', 'redis'] });
afterAll(() => stores.close());

const PAYMENTS = Number(process.env.PROXY_PAYMENTS ?? 120);
const CONCURRENCY = 16;
const seed = Number(process.env.PROXY_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** What one configuration went through, for the test's annotations. */
interface Figures {
  logicalCalls: number;
  serverExecutions: number;
  attempts: number;
  replays: number;
  requestsAtServer: number;
  timeouts: number;
  inFlight409: number;
  dropped: number;
  reset: number;
  delayed: number;
}

describe.each(ADAPTERS)('%s', (adapter) => {
  describe.each(Object.keys(stores.stores))('on the %s store', (storeName) => {
    it(`charges each of ${PAYMENTS} payments exactly once, each confirmed with a 201`, async ({
      annotate,
    }) => {
      await annotate(`PROXY_SEED=${seed} replays this run`, 'seed');
      const random = seededRandom(seed ^ hash(`${adapter}/${storeName}`));
      const store = await stores.stores[storeName]!();
      // Mostly quick charges; a few slower than the client's attempt timeout,
      // so the client gives up on an attempt the server is still running.
      const server = await startPayments(adapter, {
        store,
        latencyMs: () => (random() < 0.05 ? 250 + random() * 250 : random() * 30),
      });
      const proxy = await faultProxy(
        server.url,
        randomFaults({ drop: 0.15, reset: 0.15, delay: 0.1, maxDelayMs: 400 }, random),
        random,
      );
      const events: RetryEvent[] = [];
      const fetch = createIdempotentFetch({
        attemptTimeoutMs: 300,
        baseDelayMs: 10,
        maxDelayMs: 200,
        // Enough attempts to outlast a stalled machine (a CPU-starved run can
        // time out every attempt for seconds): the deadline bounds the call.
        maxAttempts: 60,
        deadlineMs: 60_000,
        onRetry: (e) => events.push(e),
      });
      const results: {
        reference: string;
        status: number;
        body: unknown;
        attempts: number;
        replayed: boolean;
      }[] = [];
      try {
        let next = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (next < PAYMENTS) {
              const reference = `${adapter}-${storeName}-${seed}-${next++}`;
              const response = await fetch(`${proxy.url}/payments`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', 'x-merchant': 'acme' },
                body: JSON.stringify({ reference, amount: 1999 }),
              });
              const info = idempotencyInfo(response)!;
              results.push({
                reference,
                status: response.status,
                body: await response.json(),
                attempts: info.attempts,
                replayed: info.replayed,
              });
            }
          }),
        );
        // Attempts the client gave up on may still be running on the server: let them end.
        await new Promise((r) => setTimeout(r, 600));

        const f: Figures = {
          logicalCalls: results.length,
          serverExecutions: [...server.charges.values()].reduce((a, b) => a + b, 0),
          attempts: results.reduce((n, r) => n + r.attempts, 0),
          replays: results.filter((r) => r.replayed).length,
          requestsAtServer: server.requests,
          timeouts: events.filter((e) => (e.error as Error | undefined)?.name === 'TimeoutError')
            .length,
          inFlight409: events.filter((e) => e.status === 409).length,
          ...proxy.stats,
        };
        delete (f as Partial<typeof proxy.stats>).exchanges;
        await annotate(
          Object.entries(f)
            .map(([name, value]) => `${name} ${value}`)
            .join(', '),
          'figures',
        );

        expect(results).toHaveLength(PAYMENTS);
        for (const r of results) {
          expect(r, r.reference).toMatchObject({
            status: 201,
            body: { reference: r.reference, amount: 1999, id: `ch_${r.reference}_1` },
          });
          expect(server.charges.get(r.reference), r.reference).toBe(1);
        }
        expect(server.charges.size).toBe(PAYMENTS);
        expect(f.serverExecutions).toBe(PAYMENTS);
        // The faults did happen, and the client recovered from them.
        expect(f.attempts).toBeGreaterThan(PAYMENTS);
        expect(f.replays).toBeGreaterThan(0);
        expect(proxy.stats.dropped + proxy.stats.reset).toBeGreaterThan(0);
        // Only transient answers were retried.
        for (const e of events) {
          if (e.status !== undefined)
            expect([409, 425, 429, 500, 502, 503, 504]).toContain(e.status);
        }
      } finally {
        await proxy.close();
        await server.close();
      }
    }, 180_000);

    it('returns a 422 at once, never retried: a reused key with another body, and a rejected payment', async () => {
      const store = await stores.stores[storeName]!();
      const server = await startPayments(adapter, { store, latencyMs: () => 1 });
      const events: RetryEvent[] = [];
      const fetch = createIdempotentFetch({ onRetry: (e) => events.push(e) });
      const pay = (key: string, body: unknown) =>
        fetch(`${server.url}/payments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-merchant': 'acme' },
          body: JSON.stringify(body),
          idempotency: { key },
        });
      try {
        const key = `mismatch-${adapter}-${storeName}-${seed}`;
        expect((await pay(key, { reference: key, amount: 100 })).status).toBe(201);
        const mismatch = await pay(key, { reference: key, amount: 999 });
        expect(mismatch.status).toBe(422);
        expect(await mismatch.json()).toMatchObject({
          type: 'urn:idem:problem:fingerprint-mismatch',
        });
        expect(idempotencyInfo(mismatch)).toEqual({ key, attempts: 1, replayed: false });

        const invalid = await pay(`invalid-${adapter}-${storeName}-${seed}`, {
          reference: 'x',
          amount: -1,
        });
        expect(invalid.status).toBe(422);
        expect(idempotencyInfo(invalid)?.attempts).toBe(1);
        // The handler's 422 is a final answer: stored, and replayed to the next call with its key.
        const again = await pay(`invalid-${adapter}-${storeName}-${seed}`, {
          reference: 'x',
          amount: -1,
        });
        expect(again.status).toBe(422);
        expect(idempotencyInfo(again)).toMatchObject({ attempts: 1, replayed: true });

        expect(events).toEqual([]);
        expect(server.charges.get(key)).toBe(1);
        expect(server.requests).toBe(4);
      } finally {
        await server.close();
      }
    });
  });
});

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h;
}
