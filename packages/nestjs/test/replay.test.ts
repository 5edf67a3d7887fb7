import 'reflect-metadata';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { memoryStore } from '@idem/store-memory';
import {
  type CallHandler,
  Controller,
  HttpCode,
  type INestApplication,
  Module,
  type NestInterceptor,
  Post,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { map } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { IdempotencyModule, Idempotent } from '../src/index.js';
import type { Platform } from './nest-app.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** The usual response-wrapping interceptor: it maps whatever value comes out. */
class Wrap implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler) {
    return next.handle().pipe(map((data) => ({ data })));
  }
}

/**
 * What Nest logs (errors) and Fastify's own logger writes at warn or above
 * while requests go through an app with a response-wrapping global
 * interceptor around idem's.
 */
async function start(platform: Platform) {
  let runs = 0;
  @Controller()
  class PaymentsController {
    @Post('payments')
    @Idempotent()
    create() {
      runs += 1;
      return { id: `pay_${runs}` };
    }

    @Post('gone')
    @Idempotent()
    @HttpCode(204)
    gone() {
      runs += 1;
    }
  }
  @Module({
    imports: [IdempotencyModule.forRoot({ store: memoryStore(), scope: () => 'tenant' })],
    controllers: [PaymentsController],
  })
  class AppModule {}
  const errors: string[] = [];
  const logger = { log() {}, warn: push, error: push };
  function push(message: unknown) {
    errors.push(String(message));
  }
  const stream = {
    write(line: string) {
      if ((JSON.parse(line) as { level: number }).level >= 40) errors.push(line);
    },
  };
  const adapter =
    platform === 'express' ? new ExpressAdapter() : new FastifyAdapter({ logger: { stream } });
  const app = await NestFactory.create(AppModule, adapter, { rawBody: true, logger });
  app.useGlobalInterceptors(new Wrap());
  // The status as access logs and metrics read it, once the response is over.
  const responses: ServerResponse[] = [];
  app.use((_req: unknown, res: ServerResponse, next: () => void) => {
    responses.push(res);
    next();
  });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const send = (path: string, key: string) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'idempotency-key': key, 'content-type': 'application/json' },
      body: '{"amount":1}',
    });
  return { send, errors, statuses: () => responses.map((res) => res.statusCode), runs: () => runs };
}

describe.each<Platform>(['express', 'fastify'])('on %s', (platform) => {
  it('a replay goes out alone: nothing Nest or the interceptors around idem send after it reaches the client or the logs', async () => {
    const app = await start(platform);
    const first = await app.send('/payments', 'a');
    const firstBody = await first.text();
    const retry = await app.send('/payments', 'a');
    expect(retry.status).toBe(first.status);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toBe(firstBody);
    const empty = await app.send('/gone', 'b');
    const emptyAgain = await app.send('/gone', 'b');
    expect([empty.status, emptyAgain.status]).toEqual([204, 204]);
    expect(emptyAgain.headers.get('idempotent-replayed')).toBe('true');
    const problem = await app.send('/payments', '');
    expect(problem.status).toBe(400);
    expect(problem.headers.get('content-type')).toBe('application/problem+json');
    expect(((await problem.json()) as { status: number }).status).toBe(400);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(app.errors).toEqual([]);
    expect(app.runs()).toBe(2);
    expect(app.statuses()).toEqual([201, 201, 204, 204, 400]);
  });
});
