import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisStore } from './index.js';

describe('redisStore options', () => {
  it('names the fix when the client is missing or not an ioredis client', () => {
    // @ts-expect-error: no options at all
    expect(() => redisStore()).toThrow(/pass an ioredis client as \{ client \}/);
    // @ts-expect-error: not a client
    expect(() => redisStore({ client: {} })).toThrow(/pass an ioredis client as \{ client \}/);
  });

  it('refuses a prefix that is not a string and a negative maxResponseBytes', () => {
    const client = { callBuffer: () => {} } as unknown as Redis;
    // @ts-expect-error: prefix must be a string
    expect(() => redisStore({ client, prefix: 1 })).toThrow(/prefix must be a string/);
    expect(() => redisStore({ client, maxResponseBytes: -1 })).toThrow(/maxResponseBytes/);
  });
});
