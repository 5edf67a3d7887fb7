'use client';

import { useActionState } from 'react';
import { placeOrder } from './actions';

export function OrderForm({ submission }: { submission: string }) {
  const [state, action] = useActionState(placeOrder, null);
  return (
    <form action={action}>
      <input type="hidden" name="idempotency-key" value={submission} />
      <label>
        Item <input name="item" defaultValue="coffee" />
      </label>
      <button type="submit">Place order</button>
      {state && (
        <p role="status">
          Order {state.order.id} placed: {state.order.item}
        </p>
      )}
    </form>
  );
}
