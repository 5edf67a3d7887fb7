import { connection } from 'next/server';
import { OrderForm } from './order-form';

export default async function OrdersPage() {
  // Rendered per request, never once at build time: each render mints the
  // key of one submission of the form.
  await connection();
  return (
    <main>
      <h1>Place an order</h1>
      <OrderForm submission={crypto.randomUUID()} />
    </main>
  );
}
