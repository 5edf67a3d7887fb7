import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { Store } from '@idem/core';
import { cpuPressure } from '@idem/test-pressure';
import { reachableStores } from '@idem/test-stores';
import { Controller, Module, Post, Res } from '@nestjs/common';
import { afterAll, describe, expect, it } from 'vitest';
import { IdempotencyModule, type IdempotencyModuleOptions, Idempotent } from '../src/index.js';
import { type AnyResponse, create, nodeResponse, type Platform } from './nest-app.js';

// A storm of identical retries with one key, under CPU pressure, on the memory
// store and Redis (CI=true: Redis must answer), on both platforms: however they
// interleave with the handler, it runs once, and every client gets its answer
// byte for byte or a 409 in-flight problem.
const stores = await reachableStores({ label: 'nestjs-storm', only: ['memory', 'redis'] });
afterAll(() => stores.close());

const STORM = 50;

async function start(
  platform: Platform,
  store: Store,
  concurrent: IdempotencyModuleOptions['concurrent'],
) {
  let runs = 0;
  @Controller()
  class PayController {
    @Post('pay')
    @Idempotent()
    async pay(@Res() res: AnyResponse) {
      const run = ++runs;
      // Written in pieces through @Res(), over a stretch long enough for the
      // storm to meet the handler mid-run and short enough for late ones to replay.
      const raw = nodeResponse(res);
      raw.statusCode = 201;
      raw.setHeader('content-type', 'application/json');
      raw.write(`{"charged":${run},`);
      await new Promise((r) => setTimeout(r, 50));
      raw.end(`"pad":"${'x'.repeat(2000)}"}`);
    }
  }
  @Module({
    imports: [IdempotencyModule.forRoot({ store, scope: () => 'tenant', concurrent })],
    controllers: [PayController],
  })
  class AppModule {}
  const app = await create(platform, AppModule);
  await app.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/pay`,
    runs: () => runs,
    close: () => app.close(),
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
        text: await res.text(),
      };
    }),
  );
}

const ANSWER = `{"charged":1,"pad":"${'x'.repeat(2000)}"}`;

describe.each<Platform>(['express', 'fastify'])(
  '@idem/nestjs on %s under a duplicate storm',
  (platform) => {
    for (const [name, reason] of Object.entries(stores.skipped)) {
      it.skip(`on the ${name} store: ${reason}`, () => {});
    }
    for (const [name, createStore] of Object.entries(stores.stores)) {
      it(`on the ${name} store: ${STORM} identical requests at once run the handler once; the rest replay it or get 409`, async () => {
        const server = await start(platform, await createStore(), 'reject');
        const pressure = cpuPressure();
        try {
          const replies = await storm(server.url, `storm-${platform}-${name}-${Date.now()}`);
          expect(server.runs()).toBe(1);
          const fresh = replies.filter((r) => r.status === 201 && r.replayed === null);
          const replays = replies.filter((r) => r.status === 201 && r.replayed === 'true');
          const inFlight = replies.filter((r) => r.status === 409);
          expect(fresh).toHaveLength(1);
          expect(fresh.length + replays.length + inFlight.length).toBe(STORM);
          for (const reply of [...fresh, ...replays]) expect(reply.text).toBe(ANSWER);
          for (const reply of inFlight) {
            expect(reply.type).toBe('application/problem+json');
            expect(JSON.parse(reply.text).type).toBe('urn:idem:problem:request-in-flight');
          }
          console.info(
            `nest on ${platform}, storm on ${name}: 1 run, ${replays.length} replays, ${inFlight.length} × 409; ${pressure.summary()}`,
          );
        } finally {
          await pressure.stop();
          await server.close();
        }
      });

      it(`on the ${name} store: with concurrent: 'wait', every one of ${STORM} gets the one answer`, async () => {
        const server = await start(platform, await createStore(), 'wait');
        const pressure = cpuPressure();
        try {
          const replies = await storm(server.url, `storm-wait-${platform}-${name}-${Date.now()}`);
          expect(server.runs()).toBe(1);
          expect(replies.filter((r) => r.replayed === null)).toHaveLength(1);
          for (const reply of replies) {
            expect(reply.status).toBe(201);
            expect(reply.text).toBe(ANSWER);
          }
        } finally {
          await pressure.stop();
          await server.close();
        }
      });
    }
  },
);
