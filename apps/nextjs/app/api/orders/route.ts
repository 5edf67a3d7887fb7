import { listOrders } from '../../../lib/orders';

// Read per request: the orders change while the process runs.
export const dynamic = 'force-dynamic';

export function GET(): Response {
  return Response.json(listOrders());
}
