import { isIdempotencyError } from '@idem/core';
import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster, createSentinel } from 'redis';
import { describe, expect, it } from 'vitest';
import { type RedisClient, redisStore } from './index.js';

// Clients that never connect: construction sends no command.
const ioredis = new Redis({ lazyConnect: true });
const ioredisCluster = new Cluster([{ host: '127.0.0.1', port: 7101 }], { lazyConnect: true });
const nodeRedis = createClient({ disableOfflineQueue: true });
const nodeRedisCluster = createCluster({
  rootNodes: [{ url: 'redis://127.0.0.1:7101' }],
  defaults: { disableOfflineQueue: true },
});

/** The ConfigurationError `build` throws (never a TypeError), by its code. */
function configurationError(build: () => unknown): Error {
  let thrown: unknown;
  try {
    build();
  } catch (error) {
    thrown = error;
  }
  expect(isIdempotencyError(thrown, 'CONFIGURATION'), String(thrown)).toBe(true);
  return thrown as Error;
}

describe('redisStore options: each mistake is a ConfigurationError that names the fix', () => {
  it('no options, or not an object', () => {
    // @ts-expect-error: no options at all
    expect(configurationError(() => redisStore()).message).toMatch(/pass an options object/);
    // @ts-expect-error: a URL is not options
    expect(configurationError(() => redisStore('redis://x')).message).toMatch(/client, prefix/);
  });

  it('a missing client, or something else than an ioredis or node-redis client', () => {
    for (const client of [undefined, null, {}, 'redis://127.0.0.1:6379', { query() {} }]) {
      const error = configurationError(() => redisStore({ client: client as RedisClient }));
      expect(error.message).toMatch(
        /^idem: redisStore\(\): option "client" must be an ioredis client .* or a connected node-redis client .*, got /,
      );
    }
  });

  it('unknown option names (a typo from JavaScript would leave the default in force)', () => {
    const options = { client: ioredis, prefx: 'app:' } as never;
    const error = configurationError(() => redisStore(options));
    expect(error.message).toBe(
      'idem: redisStore(): unknown option "prefx" (did you mean "prefix"?); the options are client, prefix, maxResponseBytes.',
    );
    // Before the client is looked at: `clint` is a typo, not a missing client.
    expect(configurationError(() => redisStore({ clint: ioredis } as never)).message).toMatch(
      /^idem: redisStore\(\): unknown option "clint" \(did you mean "client"\?\)/,
    );
  });

  it('a prefix that is not a string', () => {
    // @ts-expect-error: prefix must be a string
    const error = configurationError(() => redisStore({ client: ioredis, prefix: 1 }));
    expect(error.message).toBe('idem: redisStore(): option "prefix" must be a string, got 1.');
  });

  it('a maxResponseBytes that is not a number of bytes', () => {
    for (const maxResponseBytes of [-1, Number.NaN, '1024', {}]) {
      const options = { client: ioredis, maxResponseBytes } as never;
      expect(configurationError(() => redisStore(options)).message).toMatch(
        /^idem: redisStore\(\): option "maxResponseBytes" must be a number of bytes, zero or more, got /,
      );
    }
  });

  it('a {…} hash tag in the prefix on a Cluster client, ioredis or node-redis', () => {
    for (const client of [ioredisCluster, nodeRedisCluster]) {
      const error = configurationError(() => redisStore({ client, prefix: 'app:{idem}:' }));
      expect(error.message).toMatch(
        /hash tag \('\{idem\}'\).*one Redis Cluster slot.*prefix: 'app:idem:'/,
      );
      // An empty tag hashes the whole key: no slot of its own.
      expect(redisStore({ client, prefix: 'app:{}:' })).toBeDefined();
    }
    // On a standalone Redis braces are only characters.
    for (const client of [ioredis, nodeRedis]) {
      expect(redisStore({ client, prefix: 'app:{idem}:' })).toBeDefined();
    }
  });

  it('a node-redis Sentinel client (not supported yet), with the alternative', () => {
    const sentinel = createSentinel({
      name: 'mymaster',
      sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }],
    });
    const error = configurationError(() => redisStore({ client: sentinel as never }));
    expect(error.message).toMatch(
      /Sentinel clients .* not supported yet; use ioredis with `sentinels`/,
    );
  });

  it('a node-redis client that queues commands while it reconnects (its default), with the fix', () => {
    const queueing = [
      createClient(),
      createClient({ disableOfflineQueue: false }),
      createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7101' }] }),
    ];
    for (const client of queueing) {
      const error = configurationError(() => redisStore({ client }));
      expect(error.message).toMatch(/another command's reply/);
      expect(error.message).toMatch(/disableOfflineQueue: true/);
    }
    // The cluster's fix is in its defaults, which its node clients take.
    expect(configurationError(() => redisStore({ client: queueing[2]! })).message).toMatch(
      /createCluster\(\{ \.\.\., defaults: \{ disableOfflineQueue: true \} \}\)/,
    );
  });

  it('any junk in any option: a ConfigurationError, never another kind of error', () => {
    const junk = fc.oneof(fc.anything(), fc.constantFrom(ioredis, nodeRedis, ioredisCluster));
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('client', 'prefix', 'maxResponseBytes', 'ttl'), junk),
        (options) => {
          try {
            redisStore(options as never);
          } catch (error) {
            expect(isIdempotencyError(error, 'CONFIGURATION'), String(error)).toBe(true);
          }
        },
      ),
    );
  });

  it('takes every client kind it documents', () => {
    for (const client of [ioredis, ioredisCluster, nodeRedis, nodeRedisCluster]) {
      expect(redisStore({ client }).maxResponseBytes).toBe(Number.POSITIVE_INFINITY);
    }
  });
});
