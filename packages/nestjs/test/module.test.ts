import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { type Claim, ConfigurationError } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  ForbiddenException,
  Get,
  type INestApplication,
  Injectable,
  Module,
  Post,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  IdempotencyClaim,
  IdempotencyInterceptor,
  IdempotencyModule,
  type IdempotencyModuleOptions,
  Idempotent,
} from '../src/index.js';
import { create, type Platform } from './nest-app.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function listen(app: INestApplication): Promise<string> {
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

const post = (url: string, key?: string, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key ? { 'idempotency-key': key } : {}),
      ...headers,
    },
    body: '{"amount":1999}',
  });

/** Counts runs per route, and what the claim parameter was. */
class Runs {
  readonly counts = new Map<string, number>();
  readonly claims: Array<Claim | undefined> = [];
  enter(route: string): number {
    const n = (this.counts.get(route) ?? 0) + 1;
    this.counts.set(route, n);
    return n;
  }
}

/** Lets a request in with `x-user`, as an authentication guard sets `req.user`. */
@Injectable()
class UserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest();
    const id = req.headers['x-user'];
    if (!id) throw new ForbiddenException();
    req.user = { id };
    return true;
  }
}

function appModule(runs: Runs, options: Partial<IdempotencyModuleOptions> = {}) {
  @Controller('opt-in')
  class OptInController {
    @Post('plain')
    plain() {
      return { run: runs.enter('plain') };
    }

    @Post('covered')
    @Idempotent()
    covered(@IdempotencyClaim() claim: Claim | undefined) {
      runs.claims.push(claim);
      return { run: runs.enter('covered') };
    }

    @Post('nested')
    @Idempotent()
    @UseInterceptors(IdempotencyInterceptor)
    nested() {
      return { run: runs.enter('nested') };
    }

    @Get('read')
    @Idempotent()
    read() {
      return { run: runs.enter('read') };
    }
  }

  @Controller('whole')
  @Idempotent({ keyFormat: 'uuid' })
  class WholeController {
    @Post('one')
    one() {
      return { run: runs.enter('one') };
    }

    @Post('out')
    @Idempotent(false)
    out() {
      return { run: runs.enter('out') };
    }
  }

  @Controller('users')
  @UseGuards(UserGuard)
  class UsersController {
    @Post()
    @Idempotent()
    create() {
      return { run: runs.enter('users') };
    }
  }

  @Module({
    imports: [
      IdempotencyModule.forRoot({
        store: memoryStore(),
        scope: (req: { user?: { id: string } }) => req.user?.id ?? '',
        ...options,
      }),
    ],
    controllers: [OptInController, WholeController, UsersController],
  })
  class AppModule {}
  return AppModule;
}

const UUID = '4f0e3a0c-9a53-4f6e-8a43-2a7f3d0b6c11';

describe.each<Platform>(['express', 'fastify'])('on %s', (platform) => {
  it('covers routes marked @Idempotent() (a controller marks all its handlers), and no other', async () => {
    const runs = new Runs();
    const url = await listen(await create(platform, appModule(runs)));
    // Not marked: no key needed, every request runs.
    expect((await post(`${url}/opt-in/plain`)).status).toBe(201);
    expect((await post(`${url}/opt-in/plain`, 'k1')).status).toBe(201);
    expect(runs.counts.get('plain')).toBe(2);
    // Marked: the key is required, a retry replays.
    const missing = await post(`${url}/opt-in/covered`);
    expect(missing.status).toBe(400);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    const first = await post(`${url}/opt-in/covered`, 'k2');
    const retry = await post(`${url}/opt-in/covered`, 'k2');
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toBe(await first.text());
    expect(runs.counts.get('covered')).toBe(1);
    expect(runs.claims).toHaveLength(1);
    expect(runs.claims[0]?.protected).toBe(true);
    // GET is not a covered method: it passes through, marked or not.
    expect((await fetch(`${url}/opt-in/read`)).status).toBe(200);
    // The controller's options hold for its handlers; false leaves one out.
    expect((await post(`${url}/whole/one`, 'not-a-uuid')).status).toBe(400);
    expect((await post(`${url}/whole/one`, UUID)).status).toBe(201);
    expect((await post(`${url}/whole/one`, UUID)).headers.get('idempotent-replayed')).toBe('true');
    expect((await post(`${url}/whole/out`)).status).toBe(201);
    expect(runs.counts.get('one')).toBe(1);
  });

  it("a handler a base class shares follows each subclass's @Idempotent()", async () => {
    const runs = new Runs();
    class Base {
      @Post()
      pay() {
        return { run: runs.enter('pay') };
      }
    }
    @Controller('covered')
    @Idempotent()
    class Covered extends Base {}
    @Controller('plain')
    class Plain extends Base {}
    @Module({
      imports: [IdempotencyModule.forRoot({ store: memoryStore(), scope: () => 'tenant' })],
      controllers: [Plain, Covered],
    })
    class AppModule {}
    const url = await listen(await create(platform, AppModule));
    expect((await post(`${url}/plain`)).status).toBe(201);
    expect((await post(`${url}/covered`)).status).toBe(400);
  });

  it('allRoutes covers every route but those marked @Idempotent(false)', async () => {
    const runs = new Runs();
    const url = await listen(await create(platform, appModule(runs, { allRoutes: true })));
    expect((await post(`${url}/opt-in/plain`)).status).toBe(400);
    await post(`${url}/opt-in/plain`, 'k1');
    expect((await post(`${url}/opt-in/plain`, 'k1')).headers.get('idempotent-replayed')).toBe(
      'true',
    );
    expect(runs.counts.get('plain')).toBe(1);
    expect((await post(`${url}/whole/out`)).status).toBe(201);
  });

  it('runs once under the module and @UseInterceptors(IdempotencyInterceptor) together', async () => {
    const runs = new Runs();
    const url = await listen(await create(platform, appModule(runs)));
    const first = await post(`${url}/opt-in/nested`, 'k3');
    // A second claim on the same key would answer 409 request-in-flight.
    expect(first.status).toBe(201);
    expect((await post(`${url}/opt-in/nested`, 'k3')).headers.get('idempotent-replayed')).toBe(
      'true',
    );
    expect(runs.counts.get('nested')).toBe(1);
  });

  it('runs after guards: scope sees req.user, and a refused request stores nothing', async () => {
    const runs = new Runs();
    const url = await listen(await create(platform, appModule(runs)));
    expect((await post(`${url}/users`, 'k4')).status).toBe(403);
    const alice = await post(`${url}/users`, 'k4', { 'x-user': 'alice' });
    const bob = await post(`${url}/users`, 'k4', { 'x-user': 'bob' });
    expect([alice.status, bob.status]).toEqual([201, 201]);
    expect(bob.headers.get('idempotent-replayed')).toBeNull();
    const again = await post(`${url}/users`, 'k4', { 'x-user': 'alice' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ run: 1 });
    expect(runs.counts.get('users')).toBe(2);
  });

  it('forRootAsync builds the options from injected providers', async () => {
    const runs = new Runs();
    @Module({
      providers: [{ provide: 'STORE', useFactory: () => memoryStore() }],
      exports: ['STORE'],
    })
    class StoreModule {}
    @Controller()
    class PaymentsController {
      @Post('payments')
      @Idempotent()
      create() {
        return { run: runs.enter('payments') };
      }
    }
    @Module({
      imports: [
        IdempotencyModule.forRootAsync({
          imports: [StoreModule],
          inject: ['STORE'],
          useFactory: async (store: ReturnType<typeof memoryStore>) => ({
            store,
            scope: () => 'tenant',
            keyFormat: 'uuid',
          }),
        }),
      ],
      controllers: [PaymentsController],
    })
    class AppModule {}
    const url = await listen(await create(platform, AppModule));
    expect((await post(`${url}/payments`, 'short')).status).toBe(400);
    await post(`${url}/payments`, UUID);
    expect((await post(`${url}/payments`, UUID)).headers.get('idempotent-replayed')).toBe('true');
    expect(runs.counts.get('payments')).toBe(1);
  });

  it("refuses a handler's options that do not hold at startup, naming the handler", async () => {
    @Controller()
    class BadController {
      @Post('bad')
      @Idempotent({ leaseMs: -1 })
      bad() {}
    }
    @Module({
      imports: [IdempotencyModule.forRoot({ store: memoryStore() })],
      controllers: [BadController],
    })
    class AppModule {}
    const starting = create(platform, AppModule).then((app) => app.init());
    await expect(starting).rejects.toThrow(ConfigurationError);
    await expect(starting).rejects.toThrow(/BadController\.bad/);
  });

  it('refuses to start without the module under @Idempotent(), or with the module twice', async () => {
    @Controller()
    class PaymentsController {
      @Post('payments')
      @Idempotent()
      create() {}
    }
    @Module({ controllers: [PaymentsController] })
    class Unprotected {}
    await expect(create(platform, Unprotected).then((app) => app.init())).rejects.toThrow(
      /IdempotencyInterceptor/,
    );
    @Module({ imports: [IdempotencyModule.forRoot({ store: memoryStore(), ttlMs: 3_600_000 })] })
    class Feature {}
    @Module({
      imports: [IdempotencyModule.forRoot({ store: memoryStore() }), Feature],
      controllers: [PaymentsController],
    })
    class Twice {}
    await expect(create(platform, Twice).then((app) => app.init())).rejects.toThrow(
      /imported 2 times/,
    );
  });

  it('refuses to guess a body Nest parsed without keeping its bytes: 500, the fix logged, nothing run', async () => {
    const runs = new Runs();
    const errors: string[] = [];
    const logger = {
      log() {},
      warn() {},
      error: (message: unknown) => errors.push(String(message)),
    };
    const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
    // Nest's defaults: bodies parsed, raw bytes not kept.
    const app = await NestFactory.create(appModule(runs), adapter, { logger });
    const url = await listen(app);
    expect((await post(`${url}/opt-in/covered`, 'k5')).status).toBe(500);
    expect(runs.counts.get('covered')).toBeUndefined();
    expect(errors.join('\n')).toMatch(/rawBody: true/);
  });
});
