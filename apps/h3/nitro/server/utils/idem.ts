import { redisStore } from '@idem/store-redis';
import { idempotency } from '@idem/web';
import { Redis } from 'ioredis';

// One store for every route and every instance of the app.
const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: 1,
  commandTimeout: 2_000,
});

export const idem = idempotency({
  store: redisStore({ client, prefix: 'idem:' }),
  scope: (request) => request.headers.get('x-account-id') ?? '',
});
