import { idempotency, type Store } from '@idem/express';
import express, { type Express } from 'express';

/** A fake card processor: every call is a real charge, so a retried call is a double charge. */
export class PaymentGateway {
  charges = 0;

  async charge(amount: number): Promise<string> {
    this.charges++;
    return `ch_${this.charges}_${amount}`;
  }
}

/** The payments API: `POST /payments` charges a card once per `Idempotency-Key`. */
export function paymentsApp(options: { store: Store; gateway: PaymentGateway }): Express {
  const app = express();
  // Parsers may run before idem: it fingerprints the parsed JSON canonically.
  app.use(express.json());
  // Stand-in for authentication: the merchant a request comes from.
  app.use((req, res, next) => {
    if (req.get('x-merchant')) next();
    else res.status(401).json({ error: 'send an X-Merchant header' });
  });
  // Each merchant has its own key space, so one merchant can never replay another's payment.
  app.use(idempotency({ store: options.store, scope: (req) => String(req.get('x-merchant')) }));
  app.post('/payments', async (req, res) => {
    const { amount } = req.body ?? {};
    if (!Number.isInteger(amount) || amount <= 0) {
      res.status(400).json({ error: 'amount must be a positive integer (cents)' });
      return;
    }
    const id = await options.gateway.charge(amount);
    res.status(201).json({ id, amount, status: 'succeeded' });
  });
  return app;
}
