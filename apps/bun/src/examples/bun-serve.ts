import { redisStore } from '@idem/store-redis';
import { idempotency } from '@idem/web';
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

const pay = idem(async (request: Request) => {
  const { amount } = (await request.json()) as { amount: number };
  const payment = { id: `pay_${++charges}`, amount, account: accountOf(request) };
  return Response.json(payment, { status: 201 });
});

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  routes: {
    // Authentication first: a refused request never reaches idem, so it stores nothing.
    '/payments': {
      POST: (request) =>
        accountOf(request) ? pay(request) : new Response('sign in first', { status: 401 }),
    },
  },
  fetch: () => new Response('not found', { status: 404 }),
});

console.log(`listening on ${server.url}`);
