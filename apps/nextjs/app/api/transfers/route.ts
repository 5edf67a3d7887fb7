import { claimOf, idempotency } from '@idem/web';
import { ledger } from '../../../lib/ledger';

const { store, migrated } = ledger();
const idem = idempotency({
  store,
  scope: (request) => request.headers.get('x-account-id') ?? '',
});

// The transfer's row and idem's record commit in one PostgreSQL transaction:
// no crash between them can leave a transfer that a retry would make again.
const transfer = idem(async (request: Request) => {
  const { amount, reference } = (await request.json()) as { amount: number; reference: string };
  // The transaction bound to this request's claim; idem commits it with the record.
  const tx = await store.transaction(claimOf(request));
  const { rows } = await tx.query<{ id: number }>(
    'INSERT INTO nextjs_transfers (account, amount, reference) VALUES ($1, $2, $3) RETURNING id',
    [request.headers.get('x-account-id') ?? '', amount, reference],
  );
  return Response.json({ id: rows[0]?.id, amount, reference }, { status: 201 });
});

export async function POST(request: Request): Promise<Response> {
  await migrated();
  return transfer(request);
}
