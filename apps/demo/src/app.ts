import type { Claim, Store } from '@idem/core';
import { idempotency } from '@idem/hono';
import { Hono } from 'hono';

/** A fake card processor: every call is a real charge, so a duplicate call is a double charge. */
export class PaymentGateway {
  /** Charges made, by customer payment reference. */
  readonly charges = new Map<string, number>();
  total: number = 0;

  async charge(reference: string, amount: number, latencyMs: number): Promise<string> {
    await new Promise((r) => setTimeout(r, latencyMs));
    this.total++;
    this.charges.set(reference, (this.charges.get(reference) ?? 0) + 1);
    return `ch_${this.total.toString(36)}_${amount}`;
  }
}

export interface PaymentsAppOptions {
  readonly gateway: PaymentGateway;
  /** The idempotency store; omit it to run the API unprotected, as most APIs do. */
  readonly store?: Store;
  /** Handler latency range in ms; a slow handler is what makes clients time out and retry. */
  readonly latencyMs?: readonly [number, number];
  /**
   * Extra work to run with the charge (the Postgres mode writes the payment row
   * in the idempotency record's transaction, bound through `context`).
   */
  readonly onCharged?: (
    payment: { reference: string; chargeId: string; amount: number },
    context: Claim | undefined,
  ) => Promise<void>;
}

/** The payments API: POST /payments charges a card and answers 201. */
export function paymentsApp(options: PaymentsAppOptions): Hono {
  const { gateway, store } = options;
  const [min, max] = options.latencyMs ?? [5, 60];
  const app = new Hono();
  if (store) {
    // Each merchant (the X-Merchant header stands in for real authentication) has its own key space.
    app.use(
      '/payments',
      idempotency({ store, scope: (c) => c.req.header('x-merchant') ?? 'anonymous' }),
    );
  }
  app.post('/payments', async (c) => {
    const { reference, amount } = await c.req.json<{ reference: string; amount: number }>();
    if (typeof reference !== 'string' || !Number.isInteger(amount) || amount <= 0) {
      return c.json(
        { error: 'reference (string) and amount (positive integer) are required' },
        400,
      );
    }
    const latency = min + Math.floor(Math.random() * (max - min + 1));
    const chargeId = await gateway.charge(reference, amount, latency);
    // The claim this request runs under, set by the idempotency middleware.
    const context = c.get('idempotency' as never) as Claim | undefined;
    await options.onCharged?.({ reference, chargeId, amount }, context);
    return c.json({ id: chargeId, reference, amount, status: 'succeeded' }, 201);
  });
  return app;
}
