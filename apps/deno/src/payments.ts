import { redisStore } from 'npm:@idem/store-redis@^0.1.0';
import { idempotency } from 'npm:@idem/web@^0.1.0';
import { Redis } from 'npm:ioredis@^5.9.2';

// The recommended options: a lost Redis answers 503 within ~2 s instead of queueing requests.
const client = new Redis(Deno.env.get('REDIS_URL') ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: 1,
  commandTimeout: 2_000,
});

const idem = idempotency({
  store: redisStore({ client, prefix: 'idem:' }),
  // Each account has keys of its own: two accounts sending the same key never meet.
  scope: (request) => request.headers.get('authorization') ?? '',
});

let charges = 0;

const pay = idem(async (request: Request) => {
  const { amount } = (await request.json()) as { amount: number };
  return Response.json({ id: `pay_${++charges}`, amount }, { status: 201 });
});

Deno.serve({ port: Number(Deno.env.get('PORT') ?? 8000) }, (request) => {
  const { pathname } = new URL(request.url);
  if (!request.headers.has('authorization')) return new Response('sign in first', { status: 401 });
  if (request.method === 'POST' && pathname === '/payments') return pay(request);
  return new Response('not found', { status: 404 });
});
