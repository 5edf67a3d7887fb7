/**
 * A fake payments ledger, standing in for a card processor and an accounts
 * service: every call is a real side effect, so a call made twice is a
 * double charge or a credit applied twice. It counts each so the retry
 * storm can tell.
 */

/** A card payment the API is asked to make. */
export interface PaymentRequest {
  /** The merchant's own reference for the order. */
  readonly reference: string;
  readonly amountCents: number;
}

/** A payment the ledger made. */
export interface Payment extends PaymentRequest {
  readonly id: string;
  readonly status: 'succeeded';
}

/** A credit to apply to an account, as the credits queue carries it. */
export interface Credit {
  /** The producer's id for the credit: the same on every copy it sends. */
  readonly creditId: string;
  readonly account: string;
  readonly amountCents: number;
}

/** Thrown while an account is unreachable: the record fails and is delivered again. */
export class LedgerUnavailableError extends Error {
  override readonly name = 'LedgerUnavailableError';
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Charges made, per payment reference. */
export const charges = new Map<string, number>();
/** Credits applied, per credit id. */
export const credits = new Map<string, number>();
const outages = new Map<string, number>();

/** How long a charge takes at the processor, in ms: long enough for the storm's retries to overlap it. */
export const CHARGE_LATENCY_MS = 400;

/** Charges the card: a real charge on every call. */
export async function charge(request: PaymentRequest): Promise<Payment> {
  charges.set(request.reference, (charges.get(request.reference) ?? 0) + 1);
  await sleep(CHARGE_LATENCY_MS);
  const n = [...charges.values()].reduce((sum, count) => sum + count, 0);
  return { id: `pay_${n.toString().padStart(4, '0')}`, status: 'succeeded', ...request };
}

/** Makes `account` unreachable for its next `attempts` credits. */
export function failNextCredits(account: string, attempts: number): void {
  outages.set(account, attempts);
}

/** Applies the credit: money moves on every call. */
export async function applyCredit(credit: Credit): Promise<void> {
  const left = outages.get(credit.account) ?? 0;
  await sleep(20);
  if (left > 0) {
    outages.set(credit.account, left - 1);
    throw new LedgerUnavailableError(`account ${credit.account} is unreachable; try again`);
  }
  credits.set(credit.creditId, (credits.get(credit.creditId) ?? 0) + 1);
}
