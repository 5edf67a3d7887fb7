/** A payment as the example's stand-in for a database records it. */
export interface Payment {
  readonly id: string;
  readonly account: string;
  readonly amount: number;
}

const shared = globalThis as typeof globalThis & { payments?: Payment[] };
shared.payments ??= [];
const payments = shared.payments;

/** Records a payment: the effect that must happen once per key. */
export async function charge(account: string, amount: number): Promise<Payment> {
  const payment = { id: `pay_${payments.length + 1}`, account, amount };
  payments.push(payment);
  return payment;
}
