import { idempotency } from '@idem/web';
import { after } from 'next/server';
import { charge } from '../../../lib/payments';
import { store } from '../../../lib/store';

const idem = idempotency({
  store,
  // Keys never cross accounts: put your authenticated account id here.
  scope: (request) => request.headers.get('x-account-id') ?? '',
  // A completion the store could not take at once is retried after the response.
  waitUntil: () => after,
});

export const POST = idem(async (request: Request) => {
  const { amount } = (await request.json()) as { amount: number };
  const payment = await charge(request.headers.get('x-account-id') ?? '', amount);
  return Response.json(payment, { status: 201 });
});
