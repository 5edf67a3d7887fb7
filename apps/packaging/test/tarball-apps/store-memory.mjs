// @idem/store-memory's README: run() twice under one key executes once.
import { createIdempotency } from '@idem/core';
import { memoryStore } from '@idem/store-memory';

const idem = createIdempotency({ store: memoryStore() });
let runs = 0;
const invoice = () => ({ invoiced: true, run: ++runs });
const first = await idem.run('order-42', invoice, { scope: 'invoices' });
const second = await idem.run('order-42', invoice, { scope: 'invoices' });
console.log(
  JSON.stringify({ kinds: [first.kind, second.kind], values: [first.value, second.value], runs }),
);
