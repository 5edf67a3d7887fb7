import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { createIdempotency } from '@idem/core';
import { StoreUnavailableError, scopedKey } from '@idem/core/store';
import { Redis, type RedisOptions } from 'ioredis';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';
import {
  connect,
  connectAs,
  freshPrefix,
  nodeRedisOptions,
  recommended,
  recommendedNodeRedis,
  redisUp,
  type TestClient,
  until,
  url,
} from './helpers.js';

const up = await redisUp();

/** An ioredis client as the mid-flight helper takes it. */
const ioredis = (client: Redis): TestClient => ({
  library: 'ioredis',
  client,
  id: async () => Number(await client.client('ID')),
  addr: async () => '',
  close: () => client.disconnect(),
});

/** A TCP port nothing listens on. */
/**
 * idem's log, kept instead of printed: the tests that fail the store on
 * purpose check that idem reported the failure there.
 */
function keptLog() {
  const lines: string[] = [];
  const keep = (message: string) => void lines.push(message);
  return { lines, logger: { warn: keep, error: keep } };
}

/** What idem logs when a claim fails: one line at once (the rest are summed up a minute later). */
const claimFailed = (cause: RegExp) => [
  expect.stringMatching(new RegExp(`^idem: the store failed during claim: .*${cause.source}`, 'i')),
];

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * A TCP proxy in front of Redis that can swallow Redis's replies and cut every
 * connection: a reply lost on the network, for real.
 */
async function lossyProxy() {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  let swallow = false;
  const server = createServer((down) => {
    const up = tcpConnect(Number(target.port || 6379), target.hostname);
    const cut = () => {
      down.destroy();
      up.destroy();
    };
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', cut).on('error', cut);
    }
    down.on('data', (d) => up.write(d));
    up.on('data', (d) => swallow || down.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const via = new URL(url);
  via.hostname = '127.0.0.1';
  via.port = String((server.address() as { port: number }).port);
  return {
    url: via.toString(),
    swallowReplies: (on: boolean) => {
      swallow = on;
    },
    cutAll: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

describe.skipIf(!up)(
  'redisStore when Redis fails (real connections, no mocks), ioredis then node-redis',
  () => {
    let admin: Redis;
    beforeAll(async () => {
      admin = await connect();
    });
    afterAll(() => admin?.disconnect());

    /**
     * Parks the connection of `tc` on a blocking read, sends `action` (its
     * command waits behind the BLPOP in Redis's query buffer, not yet run) and
     * resolves once Redis holds those bytes: the command is truly mid-flight.
     */
    async function midFlight<T>(tc: TestClient, action: () => Promise<T>, seconds = 5) {
      const id = await tc.id();
      const parkedOn = `idem-test:parked:${id}`;
      const parked = (
        tc.library === 'ioredis'
          ? (tc.client as Redis).blpop(parkedOn, seconds)
          : (tc.client as RedisClientType).sendCommand(['BLPOP', parkedOn, String(seconds)])
      ).catch((e: unknown) => e);
      const pending = action();
      pending.catch(() => {});
      await until(async () => {
        const info = String(await admin.client('LIST', 'ID', id));
        return /flags=\S*b/.test(info) && !/qbuf=0\b/.test(info);
      }, 'the claim to wait in the parked connection');
      return { id, parked, parkedOn, pending };
    }

    async function expectNotRun(prefix: string, scope: string, key: string) {
      const record = await redisStore({ client: admin, prefix }).read(await scopedKey(scope, key));
      expect(record).toBeUndefined();
    }

    it('CLIENT KILL mid-claim (maxRetriesPerRequest: 0): StoreUnavailableError, operation not run', async () => {
      const client = await connect({ maxRetriesPerRequest: 0 });
      try {
        const prefix = freshPrefix('kill');
        const log = keptLog();
        const idem = createIdempotency({
          store: redisStore({ client, prefix }),
          ttlMs: 60_000,
          logger: log.logger,
        });
        let runs = 0;
        const { id, pending } = await midFlight(ioredis(client), () =>
          idem.run('pay-1', () => ++runs),
        );
        expect(await admin.client('KILL', 'ID', id)).toBe(1);
        const error = await pending.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
        expect(String((error as Error).cause)).toMatch(/max retries per request/i);
        expect(log.lines).toEqual(claimFailed(/max retries per request/));
        expect(runs).toBe(0);
        await expectNotRun(prefix, '', 'pay-1');
        // ioredis reconnects on its own: the client's retry runs the operation, once.
        expect(await idem.run('pay-1', () => ++runs)).toEqual({ kind: 'executed', value: 1 });
        expect(await idem.run('pay-1', () => ++runs)).toEqual({ kind: 'replayed', value: 1 });
      } finally {
        client.disconnect();
      }
    });

    it('CLIENT KILL mid-claim with the recommended options: resent once after the reconnect, run once', async () => {
      const client = await connect(recommended);
      try {
        const prefix = freshPrefix('kill-resend');
        const idem = createIdempotency({ store: redisStore({ client, prefix }), ttlMs: 60_000 });
        let runs = 0;
        const { id, parkedOn, pending } = await midFlight(ioredis(client), () =>
          idem.run('pay-2', () => ++runs),
        );
        await admin.client('KILL', 'ID', id);
        // ioredis resends the BLPOP too: let it return at once this time.
        await admin.lpush(parkedOn, 'unpark');
        expect(await pending).toEqual({ kind: 'executed', value: 1 });
        expect(await idem.run('pay-2', () => ++runs)).toEqual({ kind: 'replayed', value: 1 });
        expect(runs).toBe(1);
      } finally {
        client.disconnect();
      }
    });

    it('a claim that ran but whose reply was lost is resent and recognised by its token: run once, no 409', async () => {
      const proxy = await lossyProxy();
      const client = new Redis(proxy.url, { ...recommended, lazyConnect: true });
      client.on('error', () => {});
      try {
        await client.connect();
        const prefix = freshPrefix('lost-reply');
        const idem = createIdempotency({ store: redisStore({ client, prefix }), ttlMs: 60_000 });
        const key = await scopedKey('', 'pay-5');
        let runs = 0;
        proxy.swallowReplies(true);
        const pending = idem.run('pay-5', () => ++runs);
        await until(
          async () =>
            (await redisStore({ client: admin, prefix }).read(key))?.state === 'in_progress',
          'the claim to run in Redis',
        );
        proxy.swallowReplies(false);
        proxy.cutAll(); // ioredis reconnects and resends the claim with the same token
        expect(await pending).toEqual({ kind: 'executed', value: 1 });
        expect(await idem.run('pay-5', () => ++runs)).toEqual({ kind: 'replayed', value: 1 });
        expect(runs).toBe(1);
      } finally {
        client.disconnect();
        await proxy.close();
      }
    });

    it('a hung connection (commandTimeout): StoreUnavailableError in bounded time, operation not run', async () => {
      const client = await connect({ ...recommended, commandTimeout: 300 });
      try {
        const prefix = freshPrefix('timeout');
        const log = keptLog();
        const idem = createIdempotency({
          store: redisStore({ client, prefix }),
          ttlMs: 60_000,
          logger: log.logger,
        });
        let runs = 0;
        const started = Date.now();
        const { pending } = await midFlight(
          ioredis(client),
          () => idem.run('pay-3', () => ++runs),
          2,
        );
        await expect(pending).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(pending).rejects.toMatchObject({ cause: { message: 'Command timed out' } });
        expect(Date.now() - started).toBeLessThan(1_500);
        expect(log.lines).toEqual(claimFailed(/Command timed out/));
        expect(runs).toBe(0);
      } finally {
        client.disconnect();
      }
    });

    const unreachable: Array<[string, RedisOptions]> = [
      ['the recommended options', recommended],
      ['enableOfflineQueue: false', { ...recommended, enableOfflineQueue: false }],
    ];
    for (const [name, options] of unreachable) {
      it(`a closed port with ${name}: StoreUnavailableError within a second, operation not run`, async () => {
        const client = new Redis({ ...options, host: '127.0.0.1', port: await closedPort() });
        client.on('error', () => {});
        try {
          const log = keptLog();
          const idem = createIdempotency({
            store: redisStore({ client }),
            ttlMs: 60_000,
            logger: log.logger,
          });
          let runs = 0;
          const started = Date.now();
          await expect(idem.run('pay-4', () => ++runs)).rejects.toBeInstanceOf(
            StoreUnavailableError,
          );
          expect(Date.now() - started).toBeLessThan(1_000);
          expect(log.lines).toEqual(claimFailed(/./));
          expect(runs).toBe(0);
        } finally {
          client.disconnect();
        }
      });
    }

    // node-redis: a command in flight when the connection drops is rejected, never resent.
    it('node-redis, CLIENT KILL mid-claim: the store sends the claim again after the reconnect, run once', async () => {
      const tc = await connectAs('node-redis');
      try {
        const prefix = freshPrefix('kill-node-redis');
        const idem = createIdempotency({
          store: redisStore({ client: tc.client, prefix }),
          ttlMs: 60_000,
        });
        let runs = 0;
        const { id, pending } = await midFlight(tc, () => idem.run('pay-6', () => ++runs));
        expect(await admin.client('KILL', 'ID', id)).toBe(1);
        // node-redis fails the claim waiting behind the BLPOP; the store sends it once more.
        expect(await pending).toEqual({ kind: 'executed', value: 1 });
        expect(await idem.run('pay-6', () => ++runs)).toEqual({ kind: 'replayed', value: 1 });
        expect(runs).toBe(1);
      } finally {
        tc.close();
      }
    });

    it('node-redis, a claim that ran but whose reply was lost: sent again by the store and recognised by its token, run once, no 409', async () => {
      const proxy = await lossyProxy();
      const tc = await connectAs('node-redis', { url: proxy.url });
      try {
        const prefix = freshPrefix('lost-reply-node-redis');
        const idem = createIdempotency({
          store: redisStore({ client: tc.client, prefix }),
          ttlMs: 60_000,
        });
        const key = await scopedKey('', 'pay-9');
        let runs = 0;
        proxy.swallowReplies(true);
        const pending = idem.run('pay-9', () => ++runs);
        pending.catch(() => {});
        await until(
          async () =>
            (await redisStore({ client: admin, prefix }).read(key))?.state === 'in_progress',
          'the claim to run in Redis',
        );
        proxy.swallowReplies(false);
        proxy.cutAll(); // node-redis fails the command in flight; the store sends it again
        expect(await pending).toEqual({ kind: 'executed', value: 1 });
        expect(await idem.run('pay-9', () => ++runs)).toEqual({ kind: 'replayed', value: 1 });
        expect(runs).toBe(1);
      } finally {
        tc.close();
        await proxy.close();
      }
    });

    it('node-redis, a hung connection (socketTimeout): StoreUnavailableError in bounded time, operation not run', async () => {
      const tc = await connectAs('node-redis', { nodeRedis: nodeRedisOptions(300) });
      try {
        const prefix = freshPrefix('timeout-node-redis');
        const log = keptLog();
        const idem = createIdempotency({
          store: redisStore({ client: tc.client, prefix }),
          ttlMs: 60_000,
          logger: log.logger,
        });
        let runs = 0;
        const started = Date.now();
        const { pending } = await midFlight(tc, () => idem.run('pay-7', () => ++runs), 2);
        await expect(pending).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(pending).rejects.toMatchObject({ cause: { message: /socket timeout/i } });
        expect(Date.now() - started).toBeLessThan(1_500);
        expect(log.lines).toEqual(claimFailed(/socket timeout/));
        expect(runs).toBe(0);
        // The reconnect strategy reconnects after a socket timeout (node-redis' default does not).
        expect(await idem.run('pay-7', () => ++runs)).toEqual({ kind: 'executed', value: 1 });
      } finally {
        tc.close();
      }
    });

    // The store offers a command refused while offline again for 2 s, then gives up.
    it('node-redis, a closed port with the recommended options: StoreUnavailableError within 3,000 ms, operation not run', async () => {
      const client = createClient({
        ...recommendedNodeRedis,
        socket: { host: '127.0.0.1', port: await closedPort() },
      });
      client.on('error', () => {});
      client.connect().catch(() => {}); // keeps retrying: never connects
      try {
        const log = keptLog();
        const idem = createIdempotency({
          store: redisStore({ client }),
          ttlMs: 60_000,
          logger: log.logger,
        });
        let runs = 0;
        const started = Date.now();
        await expect(idem.run('pay-8', () => ++runs)).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(log.lines).toEqual(claimFailed(/./));
        expect(runs).toBe(0);
      } finally {
        client.destroy();
      }
    });
  },
);
