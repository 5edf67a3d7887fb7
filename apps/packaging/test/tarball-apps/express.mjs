// @idem/express's README, called with @idem/client.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { idempotencyInfo, idempotentFetch } from '@idem/client';
import { idempotency } from '@idem/express';
import { memoryStore } from '@idem/store-memory';
import express from 'express';
import { postTwice } from './exercise.cjs';

let runs = 0;
const charge = async (body, { idempotency }) => ({
  id: randomUUID(),
  run: ++runs,
  amount: body.amount,
  key: idempotency.key,
});
const authenticate = (req, _res, next) => {
  req.user = { accountId: req.get('authorization') ?? 'anonymous' };
  next();
};

const app = express();
app.use(express.json());
app.use(authenticate);
app.use(idempotency({ store: memoryStore(), scope: (req) => req.user.accountId }));
app.post('/payments', async (req, res) => {
  res.status(201).json(await charge(req.body, { idempotency: req.idempotency }));
});

const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${server.address().port}/payments`;
const result = await postTwice(
  url,
  { idempotentFetch, idempotencyInfo },
  { authorization: 'acct_1' },
);
server.closeAllConnections();
server.close();
console.log(JSON.stringify({ runs, ...result }));
