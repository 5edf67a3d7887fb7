import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { createIdempotency, StoreUnavailableError, scopedKey } from '@idem/core';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';
import { connect, freshPrefix, recommended, redisUp, until, url } from './helpers.js';

const up = await redisUp();

/** A TCP port nothing listens on. */
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

describe.skipIf(!up)('redisStore when Redis fails (real connections, no mocks)', () => {
  let admin: Redis;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(() => admin?.disconnect());

  /**
   * Parks `client`'s connection on a blocking read, sends `action` (its
   * command waits behind the BLPOP in Redis's query buffer, not yet run) and
   * resolves once Redis holds those bytes: the command is truly mid-flight.
   */
  async function midFlight<T>(client: Redis, action: () => Promise<T>, seconds = 5) {
    const id = Number(await client.client('ID'));
    const parkedOn = `idem-test:parked:${id}`;
    const parked = client.blpop(parkedOn, seconds).catch((e: unknown) => e);
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
      const idem = createIdempotency({ store: redisStore({ client, prefix }), ttlMs: 60_000 });
      let runs = 0;
      const { id, pending } = await midFlight(client, () => idem.run('pay-1', () => ++runs));
      expect(await admin.client('KILL', 'ID', id)).toBe(1);
      const error = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
      expect(String((error as Error).cause)).toMatch(/max retries per request/i);
      expect(runs).toBe(0);
      await expectNotRun(prefix, '', 'pay-1');
      // ioredis reconnects on its own: the client's retry runs the operation, once.
      expect(await idem.run('pay-1', () => ++runs)).toEqual({ status: 'executed', value: 1 });
      expect(await idem.run('pay-1', () => ++runs)).toEqual({ status: 'replayed', value: 1 });
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
      const { id, parkedOn, pending } = await midFlight(client, () =>
        idem.run('pay-2', () => ++runs),
      );
      await admin.client('KILL', 'ID', id);
      // ioredis resends the BLPOP too: let it return at once this time.
      await admin.lpush(parkedOn, 'unpark');
      expect(await pending).toEqual({ status: 'executed', value: 1 });
      expect(await idem.run('pay-2', () => ++runs)).toEqual({ status: 'replayed', value: 1 });
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
      expect(await pending).toEqual({ status: 'executed', value: 1 });
      expect(await idem.run('pay-5', () => ++runs)).toEqual({ status: 'replayed', value: 1 });
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
      const idem = createIdempotency({ store: redisStore({ client, prefix }), ttlMs: 60_000 });
      let runs = 0;
      const started = Date.now();
      const { pending } = await midFlight(client, () => idem.run('pay-3', () => ++runs), 2);
      await expect(pending).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(pending).rejects.toMatchObject({ cause: { message: 'Command timed out' } });
      expect(Date.now() - started).toBeLessThan(1_500);
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
        const idem = createIdempotency({ store: redisStore({ client }), ttlMs: 60_000 });
        let runs = 0;
        const started = Date.now();
        await expect(idem.run('pay-4', () => ++runs)).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(Date.now() - started).toBeLessThan(1_000);
        expect(runs).toBe(0);
      } finally {
        client.disconnect();
      }
    });
  }
});
