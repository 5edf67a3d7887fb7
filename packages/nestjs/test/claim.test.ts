import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { reachServer } from '@idem/conformance';
import type { Claim } from '@idem/core';
import { postgresStore } from '@idem/store-postgres';
import {
  BadRequestException,
  Controller,
  type INestApplication,
  Module,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyClaim, IdempotencyModule, Idempotent } from '../src/index.js';
import { create, type Platform } from './nest-app.js';

/**
 * `@IdempotencyClaim()` with a transactional store on a real PostgreSQL:
 * the handler's row and the idempotency record commit together, or neither.
 */
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10, idleTimeoutMillis: 1_000 });
pool.on('error', () => {});
const up = await reachServer('PostgreSQL', DATABASE_URL, () => pool.query('SELECT 1'));
const suffix = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
const table = `idem_nest_${suffix}`;
const payments = `payments_nest_${suffix}`;
const store = postgresStore({ pool, table });

/** How the handler ends after writing its row. */
type Ending = 'answer' | 'throw' | 'http-error' | '500';

function appModule() {
  @Controller()
  class PaymentsController {
    @Post('payments')
    @Idempotent()
    async create(
      @IdempotencyClaim() claim: Claim,
      @Query('id') id: string,
      @Query('end') end: Ending,
      @Res({ passthrough: true }) res: { status?(n: number): unknown; code?(n: number): unknown },
    ) {
      const tx = await store.transaction(claim);
      await tx.query(`INSERT INTO ${payments} (id, amount) VALUES ($1, 1999)`, [id]);
      if (end === 'throw') throw new Error('card declined after the insert');
      if (end === 'http-error') throw new BadRequestException('refused after the insert');
      if (end === '500') (res.code ?? res.status)!.call(res, 500);
      return { id };
    }
  }
  @Module({
    imports: [IdempotencyModule.forRoot({ store, scope: () => 'tenant' })],
    controllers: [PaymentsController],
  })
  class AppModule {}
  return AppModule;
}

const rows = async (id: string) =>
  Number((await pool.query(`SELECT count(*) AS n FROM ${payments} WHERE id = $1`, [id])).rows[0].n);

describe.skipIf(!up)('@IdempotencyClaim() with @idem/store-postgres', () => {
  beforeAll(async () => {
    await store.migrate();
    await pool.query(`CREATE TABLE ${payments} (id text PRIMARY KEY, amount integer NOT NULL)`);
  });
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${payments}`);
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.end();
  });

  describe.each<Platform>(['express', 'fastify'])('on %s', (platform) => {
    let app: INestApplication;
    let url: string;
    beforeAll(async () => {
      app = await create(platform, appModule());
      await app.listen(0, '127.0.0.1');
      url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    });
    afterAll(() => app.close());

    const pay = (id: string, end: Ending, key: string) =>
      fetch(`${url}/payments?id=${id}&end=${end}`, {
        method: 'POST',
        headers: { 'idempotency-key': key, 'content-type': 'application/json' },
        body: '{}',
      });

    it('a 2xx commits the row with the record; the retry replays and writes nothing', async () => {
      const id = `${platform}-ok`;
      const first = await pay(id, 'answer', id);
      expect(first.status).toBe(201);
      expect(await rows(id)).toBe(1);
      const retry = await pay(id, 'answer', id);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(await retry.json()).toEqual({ id });
      expect(await rows(id)).toBe(1);
    });

    it.each<Ending>(['throw', 'http-error', '500'])(
      'a handler that ends with %s rolls its row back, and the retry runs again',
      async (end) => {
        const id = `${platform}-${end}`;
        const failed = await pay(id, end, id);
        expect(failed.status).toBe(end === 'http-error' ? 400 : 500);
        expect(await rows(id)).toBe(0);
        // The key was released with the transaction: the same key runs again, and commits.
        const retry = await pay(id, 'answer', id);
        expect(retry.status).toBe(201);
        expect(retry.headers.get('idempotent-replayed')).toBeNull();
        expect(await rows(id)).toBe(1);
      },
    );
  });
});
