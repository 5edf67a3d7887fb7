'use server';

import { createIdempotency } from '@idem/core';
import { revalidatePath } from 'next/cache';
import { cookies } from 'next/headers';
import { type Order, recordOrder } from '../../lib/orders';
import { store } from '../../lib/store';

// 'wait': a second submit that arrives while the first runs waits for its
// result instead of failing with RequestInFlightError.
const idem = createIdempotency({ store, concurrent: 'wait' });

export interface OrderState {
  readonly order: Order;
  /** True when this submit got the result of an earlier one with the same key. */
  readonly replayed: boolean;
}

export async function placeOrder(
  _previous: OrderState | null,
  form: FormData,
): Promise<OrderState> {
  const key = form.get('idempotency-key');
  if (typeof key !== 'string' || key === '') throw new Error('the form carries no idempotency key');
  const item = String(form.get('item'));
  // Keys never cross accounts: put your session's user id here.
  const account = (await cookies()).get('account')?.value ?? 'guest';
  const { kind, value } = await idem.run(key, () => recordOrder(account, item), {
    scope: account,
    payload: { item }, // the same key with another item throws FingerprintMismatchError
  });
  // Renders the page again: the form gets a new key for the next order.
  revalidatePath('/orders');
  return { order: value, replayed: kind === 'replayed' };
}
