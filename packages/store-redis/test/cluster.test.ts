import { reachServer } from '@idem/conformance';
import { storeSuite } from '@idem/conformance/store';
import { createIdempotency } from '@idem/core';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { type RedisClient, redisStore } from '../src/index.js';
import { LIBRARIES, type Library } from './helpers.js';

/**
 * Redis Cluster, opt-in: REDIS_CLUSTER_NODES=127.0.0.1:7101,127.0.0.1:7102 runs
 * the whole store suite through an ioredis Cluster and a node-redis cluster.
 */
const nodes = (process.env.REDIS_CLUSTER_NODES ?? '')
  .split(',')
  .filter(Boolean)
  .map((node) => {
    const [host, port] = node.split(':');
    return { host: host!, port: Number(port) };
  });
const where = nodes.map((n) => `${n.host}:${n.port}`).join(',');

// The administrator's view of the cluster (keys per master), and the clients under test.
const admin = nodes.length
  ? new Cluster(nodes, { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } })
  : undefined;
const up =
  admin !== undefined && (await reachServer('Redis Cluster', where, () => admin.connect()));
const skip = !admin
  ? 'set REDIS_CLUSTER_NODES=host:port,… to run against Redis Cluster'
  : !up && 'Redis Cluster is not reachable';

async function clusterClient(library: Library): Promise<{ client: RedisClient; close(): void }> {
  if (library === 'ioredis') {
    const client = new Cluster(nodes, {
      redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 2_000 },
    });
    return { client, close: () => client.disconnect() };
  }
  const client = createCluster({
    rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
    defaults: { disableOfflineQueue: true },
    commandOptions: { timeout: 2_000 },
  });
  client.on('error', () => {});
  await client.connect();
  return { client, close: () => client.destroy() };
}

afterAll(() => admin?.disconnect());

for (const library of LIBRARIES) {
  const connection = up ? await clusterClient(library) : undefined;
  afterAll(() => connection?.close());

  storeSuite({
    name: `redis cluster (${library})`,
    clock: 'server',
    sharedBackend: true,
    createStore: () => redisStore({ client: connection!.client, prefix: 'idem-test:' }),
    // A cluster client of its own: other connections to every node, as another app instance.
    connect: async () => {
      const own = await clusterClient(library);
      return { store: redisStore({ client: own.client, prefix: 'idem-test:' }), close: own.close };
    },
    skip,
  });

  describe.skipIf(!up)(`redisStore on Redis Cluster, through ${library}`, () => {
    it('spreads records over the slots of every master, one key each', async () => {
      const prefix = `idem-test:spread-${library}:${Date.now()}:`;
      const store = redisStore({ client: connection!.client, prefix });
      const idem = createIdempotency({ store, ttlMs: 60_000 });
      for (let i = 0; i < 30; i++) await idem.run(`order-${i}`, () => i);
      const perMaster = await Promise.all(
        admin!.nodes('master').map(async (node) => (await node.keys(`${prefix}*`)).length),
      );
      expect(perMaster.every((n) => n > 0)).toBe(true);
      expect(perMaster.reduce((a, b) => a + b)).toBe(30);
    });
  });
}
