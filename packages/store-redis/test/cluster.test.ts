import { reachServer } from '@idem/conformance';
import { storeSuite } from '@idem/conformance/store';
import { createIdempotency } from '@idem/core';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';

/**
 * Redis Cluster, opt-in: REDIS_CLUSTER_NODES=127.0.0.1:7101,127.0.0.1:7102 runs
 * the whole store suite through an ioredis Cluster client.
 */
const nodes = (process.env.REDIS_CLUSTER_NODES ?? '')
  .split(',')
  .filter(Boolean)
  .map((node) => {
    const [host, port] = node.split(':');
    return { host: host!, port: Number(port) };
  });

const client = nodes.length
  ? new Cluster(nodes, {
      lazyConnect: true,
      redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 2_000 },
    })
  : undefined;
const up =
  client !== undefined &&
  (await reachServer('Redis Cluster', nodes.map((n) => `${n.host}:${n.port}`).join(','), () =>
    client.connect(),
  ));
const skip = !client
  ? 'set REDIS_CLUSTER_NODES=host:port,… to run against Redis Cluster'
  : !up && 'Redis Cluster is not reachable';

afterAll(() => client?.disconnect());

storeSuite({
  name: 'redis cluster',
  clock: 'server',
  sharedBackend: true,
  createStore: () => redisStore({ client: client!, prefix: 'idem-test:' }),
  skip,
});

describe.skipIf(!up)('redisStore on Redis Cluster', () => {
  it('spreads records over the slots of every master, one key each', async () => {
    const store = redisStore({ client: client!, prefix: `idem-test:spread:${Date.now()}:` });
    const idem = createIdempotency({ store, ttlMs: 60_000 });
    for (let i = 0; i < 30; i++) await idem.run(`order-${i}`, () => i);
    const perMaster = await Promise.all(client!.nodes('master').map((node) => node.dbsize()));
    expect(perMaster.every((n) => n > 0)).toBe(true);
  });
});
