// @idem/core's README: a queue consumer whose message arrives twice.
import { createIdempotency } from '@idem/core';
import { memoryStore } from '@idem/store-memory';

const idem = createIdempotency({ store: memoryStore() });

let charges = 0;
async function chargeCard(orderId, amount) {
  charges++;
  return { chargeId: `ch_${charges}`, orderId, amount };
}

const kinds = [];
const values = [];
async function onMessage(message) {
  const { kind, value } = await idem.run(
    message.id,
    () => chargeCard(message.orderId, message.amount),
    { scope: 'payments', payload: { orderId: message.orderId, amount: message.amount } },
  );
  kinds.push(kind);
  values.push(value);
}

const message = { id: 'msg-1', orderId: 'order-42', amount: 1999 };
await onMessage(message);
await onMessage(message); // redelivered
console.log(JSON.stringify({ kinds, values, charges }));
