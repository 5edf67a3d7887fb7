import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Store } from '@idem/core';
import { reachableStores } from '@idem/test-stores';
import Koa from 'koa';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotency, type KoaIdempotencyOptions } from '../src/index.js';

// A storm of identical retries with one key, on the memory store and Redis
// (CI=true: Redis must answer): however they interleave with the handler, it
// runs once, and every client gets its answer or a 409 in-flight problem.
const stores = await reachableStores({ label: 'koa-storm', only: ['memory', 'redis'] });
afterAll(() => stores.close());

const STORM = 50;

async function start(store: Store, concurrent: KoaIdempotencyOptions['concurrent']) {
  let runs = 0;
  const app = new Koa();
  app.use(idempotency({ store, scope: () => 'tenant', concurrent }));
  app.use(async (ctx) => {
    const run = ++runs;
    // Long enough for the storm to meet the handler mid-run, short enough for late ones to replay.
    await new Promise((r) => setTimeout(r, 50));
    ctx.status = 201;
    ctx.body = { charged: run };
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    runs: () => runs,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function storm(url: string, key: string) {
  return Promise.all(
    Array.from({ length: STORM }, async (_, i) => {
      // Spread over the handler's run: some meet it in flight, some after it ended.
      await new Promise((r) => setTimeout(r, i * 2));
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: '{"amount":5}',
      });
      return {
        status: res.status,
        replayed: res.headers.get('idempotent-replayed'),
        type: res.headers.get('content-type'),
        body: (await res.json()) as Record<string, unknown>,
      };
    }),
  );
}

describe('@idem/koa under a duplicate storm', () => {
  for (const [name, reason] of Object.entries(stores.skipped)) {
    it.skip(`on the ${name} store: ${reason}`, () => {});
  }
  for (const [name, create] of Object.entries(stores.stores)) {
    it(`on the ${name} store: ${STORM} identical requests at once run the handler once; the rest replay it or get 409`, async () => {
      const server = await start(await create(), 'reject');
      try {
        const replies = await storm(server.url, `storm-${name}-${Date.now()}`);
        expect(server.runs()).toBe(1);
        const fresh = replies.filter((r) => r.status === 201 && r.replayed === null);
        const replays = replies.filter((r) => r.status === 201 && r.replayed === 'true');
        const inFlight = replies.filter((r) => r.status === 409);
        expect(fresh).toHaveLength(1);
        expect(fresh.length + replays.length + inFlight.length).toBe(STORM);
        for (const reply of [...fresh, ...replays]) expect(reply.body).toEqual({ charged: 1 });
        for (const reply of inFlight) {
          expect(reply.type).toBe('application/problem+json');
          expect(reply.body.type).toBe('urn:idem:problem:request-in-flight');
        }
        console.info(
          `koa storm on ${name}: ${server.runs()} run, ${replays.length} replays, ${inFlight.length} × 409`,
        );
      } finally {
        server.close();
      }
    });

    it(`on the ${name} store: with concurrent: 'wait', every one of ${STORM} gets the one answer`, async () => {
      const server = await start(await create(), 'wait');
      try {
        const replies = await storm(server.url, `storm-wait-${name}-${Date.now()}`);
        expect(server.runs()).toBe(1);
        expect(replies.filter((r) => r.replayed === null)).toHaveLength(1);
        for (const reply of replies) {
          expect(reply.status).toBe(201);
          expect(reply.body).toEqual({ charged: 1 });
        }
      } finally {
        server.close();
      }
    });
  }
});
