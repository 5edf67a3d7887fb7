import type { Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import { redisStore } from '@idem/store-redis';
import { Redis } from 'ioredis';

// Next.js may load a module once per route bundle, and again after a dev
// reload: the store lives on globalThis so the whole process shares one (and
// one Redis client), whichever route or action asks first.
const shared = globalThis as typeof globalThis & { idemStore?: Store };

function createStore(): Store {
  if (process.env.IDEM_STORE !== 'redis') return memoryStore();
  const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
  });
  return redisStore({ client, prefix: 'idem:nextjs:' });
}

shared.idemStore ??= createStore();
/** The process's store: memory, or Redis with `IDEM_STORE=redis` (at `REDIS_URL`). */
export const store: Store = shared.idemStore;
