// @idem/koa's README, called with @idem/client.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { idempotencyInfo, idempotentFetch } from '@idem/client';
import { idempotency } from '@idem/koa';
import { memoryStore } from '@idem/store-memory';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import { postTwice } from './exercise.cjs';

let runs = 0;
const charge = async (body, { idempotency }) => ({
  id: randomUUID(),
  run: ++runs,
  amount: body.amount,
  key: idempotency.key,
});
const authenticate = async (ctx, next) => {
  ctx.state.user = { accountId: ctx.get('authorization') || 'anonymous' };
  await next();
};

const app = new Koa();
const router = new Router();
app.use(bodyParser());
app.use(authenticate);
app.use(idempotency({ store: memoryStore(), scope: (ctx) => ctx.state.user.accountId }));
router.post('/payments', async (ctx) => {
  ctx.status = 201;
  ctx.body = await charge(ctx.request.body, { idempotency: ctx.state.idempotency });
});
app.use(router.routes());

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
