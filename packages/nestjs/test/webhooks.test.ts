import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { type Accepted, describeWebhooks, reachableStores } from '@idem/test-stores';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  HttpCode,
  HttpException,
  Module,
  Post,
  Req,
  UseGuards,
} from '@nestjs/common';
import { afterAll } from 'vitest';
import { IdempotencyModule, Idempotent, webhooks } from '../src/index.js';
import { type AnyRequest, create, headersOf, type Platform } from './nest-app.js';

// Memory, and Redis when it answers (CI=true: it must).
const stores = await reachableStores({ label: 'nestjs-webhooks', only: ['memory', 'redis'] });
afterAll(() => stores.close());

for (const platform of ['express', 'fastify'] as const satisfies Platform[]) {
  describeWebhooks(`nest on ${platform}`, {
    webhooks,
    stores,
    async start({ store, routes, receive }) {
      const deliveries = new WeakMap<object, Accepted>();
      const accepted = (req: object) => deliveries.get(req)!;
      const controllers = routes.map((route) => {
        // The signature is checked by a guard, before idem, on the bytes Nest kept.
        class Signed implements CanActivate {
          async canActivate(context: ExecutionContext) {
            const req = context.switchToHttp().getRequest<AnyRequest>();
            const verdict = await route.verify(req.rawBody ?? Buffer.alloc(0), headersOf(req));
            if (!verdict.ok) throw new HttpException({ error: verdict.error }, verdict.status);
            deliveries.set(req, verdict);
            return true;
          }
        }
        @Controller()
        class WebhookController {
          @Post(route.path)
          @HttpCode(200)
          @UseGuards(Signed)
          @Idempotent(route.options(accepted))
          async receive(@Req() req: AnyRequest) {
            const body = (req.rawBody ?? Buffer.alloc(0)).toString('utf8');
            return (await receive(route, accepted(req), body, headersOf(req))).body;
          }
        }
        return WebhookController;
      });
      @Module({ imports: [IdempotencyModule.forRoot({ store })], controllers })
      class AppModule {}
      const app = await create(platform, AppModule);
      await app.listen(0, '127.0.0.1');
      return {
        url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
        close: () => app.close(),
      };
    },
  });
}
