/** An order as the example's stand-in for a database records it. */
export interface Order {
  readonly id: string;
  readonly account: string;
  readonly item: string;
}

const shared = globalThis as typeof globalThis & { orders?: Order[] };
shared.orders ??= [];
const orders = shared.orders;

/** Records an order: the effect a double submit must not repeat. */
export async function recordOrder(account: string, item: string): Promise<Order> {
  const order = { id: `ord_${orders.length + 1}`, account, item };
  orders.push(order);
  return order;
}

/** Every order recorded by this process. */
export function listOrders(): readonly Order[] {
  return orders;
}
