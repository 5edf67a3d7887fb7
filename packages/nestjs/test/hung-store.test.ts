import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { describeHungStores } from '@idem/test-stores';
import { Controller, Module, Post } from '@nestjs/common';
import { IdempotencyModule, type IdempotencyModuleOptions, Idempotent } from '../src/index.js';
import { create, type Platform } from './nest-app.js';

function start(platform: Platform) {
  return async (options: Omit<IdempotencyModuleOptions, 'scope'>) => {
    let runs = 0;
    @Controller()
    class PayController {
      @Post('pay')
      @Idempotent()
      pay() {
        return { charged: ++runs };
      }
    }
    @Module({
      imports: [IdempotencyModule.forRoot({ ...options, scope: () => 'tenant' })],
      controllers: [PayController],
    })
    class AppModule {}
    const app = await create(platform, AppModule);
    await app.listen(0, '127.0.0.1');
    return {
      url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
      runs: () => runs,
      close: () => app.close(),
    };
  };
}

describeHungStores('nest on express', start('express'));
describeHungStores('nest on fastify', start('fastify'));
