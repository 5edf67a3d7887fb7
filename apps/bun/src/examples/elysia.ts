import { redisStore } from '@idem/store-redis';
import { idempotency } from '@idem/web';
import { Elysia } from 'elysia';
import { Redis } from 'ioredis';

const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: 1,
  commandTimeout: 2_000,
});

// The account a request acts for. A real app verifies the token (a JWT, a session).
function accountOf(request: Request): string | undefined {
  return request.headers.get('authorization')?.replace(/^Bearer /, '') || undefined;
}

const idem = idempotency({
  store: redisStore({ client, prefix: 'idem:' }),
  // Keys are per account: two accounts sending the same key never meet.
  scope: (request) => accountOf(request) ?? '',
});

let charges = 0;

// A Fetch handler: it reads the body from the request itself. An Elysia
// handler that takes `body` (or a route with a `body` schema) has Elysia
// read the request before idem, which then answers 500: a Request keeps no copy.
const pay = idem(async (request: Request) => {
  const { amount } = (await request.json()) as { amount: number };
  const payment = { id: `pay_${++charges}`, amount, account: accountOf(request) };
  return Response.json(payment, { status: 201 });
});

const app = new Elysia()
  // Authentication first: a refused request never reaches idem, so it stores nothing.
  .onBeforeHandle(({ request, status }) => {
    if (!accountOf(request)) return status(401, 'sign in first');
  })
  .post('/payments', ({ request }) => pay(request))
  .listen(Number(process.env.PORT ?? 3000));

console.log(`listening on ${app.server?.url}`);
