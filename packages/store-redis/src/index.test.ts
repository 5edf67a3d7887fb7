import { describe, expect, it } from 'vitest';
import { type RedisClient, redisStore } from './index.js';

// Shaped like an ioredis client; construction sends no command.
const client = { isCluster: false, callBuffer: async () => null } as RedisClient;

describe('redisStore options', () => {
  it('names the fix when the client is missing or not a Redis client', () => {
    // @ts-expect-error: no options at all
    expect(() => redisStore()).toThrow(/pass options with a Redis client/);
    // @ts-expect-error: not a client
    expect(() => redisStore({ client: {} })).toThrow(/must be an ioredis client/);
  });

  it('refuses a prefix that is not a string and a negative maxResponseBytes', () => {
    // @ts-expect-error: prefix must be a string
    expect(() => redisStore({ client, prefix: 1 })).toThrow(/prefix must be a string/);
    expect(() => redisStore({ client, maxResponseBytes: -1 })).toThrow(/maxResponseBytes/);
  });
});
