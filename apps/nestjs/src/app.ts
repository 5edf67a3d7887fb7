import 'reflect-metadata';
import {
  type Claim,
  IdempotencyClaim,
  IdempotencyModule,
  Idempotent,
  type Store,
} from '@idem/nestjs';
import {
  BadRequestException,
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  type INestApplication,
  Inject,
  Injectable,
  Module,
  Post,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';

/** A fake card processor: every call is a real charge, so a retried call is a double charge. */
export class PaymentGateway {
  charges = 0;

  async charge(amount: number): Promise<string> {
    this.charges++;
    return `ch_${this.charges}_${amount}`;
  }
}

/** The request as this app's guard leaves it, on either platform. */
interface MerchantRequest {
  headers: Record<string, string | string[] | undefined>;
  merchant?: string;
}

/** Stand-in for authentication: the merchant a request comes from, on `req.merchant`. */
@Injectable()
class MerchantGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<MerchantRequest>();
    const merchant = req.headers['x-merchant'];
    if (typeof merchant !== 'string') throw new UnauthorizedException('send an X-Merchant header');
    req.merchant = merchant;
    return true;
  }
}

@Controller('payments')
@UseGuards(MerchantGuard)
class PaymentsController {
  // Explicit @Inject: the app runs on tsx and vitest, whose esbuild emits no decorator metadata.
  constructor(@Inject(PaymentGateway) private readonly gateway: PaymentGateway) {}

  /** `POST /payments` charges a card once per `Idempotency-Key`. */
  @Post()
  @Idempotent()
  async create(@Body() body: { amount?: unknown }, @IdempotencyClaim() claim: Claim) {
    const { amount } = body ?? {};
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0) {
      throw new BadRequestException('amount must be a positive integer (cents)');
    }
    const id = await this.gateway.charge(amount);
    // A transactional store would take the claim here: store.transaction(claim).
    return { id, amount, status: 'succeeded', protected: claim.protected };
  }
}

/** The payments API on Nest, on either platform. */
export async function paymentsApp(options: {
  store: Store;
  gateway: PaymentGateway;
  platform?: 'express' | 'fastify';
}): Promise<INestApplication> {
  @Module({
    imports: [
      // Each merchant has its own key space, so one merchant can never replay
      // another's payment. The guard has run when scope is called.
      IdempotencyModule.forRoot({
        store: options.store,
        scope: (req: MerchantRequest) => req.merchant ?? '',
      }),
    ],
    controllers: [PaymentsController],
    providers: [{ provide: PaymentGateway, useValue: options.gateway }],
  })
  class AppModule {}
  const adapter = options.platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  // rawBody: idem fingerprints the bytes the client sent, which Nest's parsers keep.
  return NestFactory.create(AppModule, adapter, { rawBody: true, logger: ['error', 'warn'] });
}
