import { createServer, type Server, Socket } from 'node:net';
import type { Store } from '@idem/core/store';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';
import { freshPrefix, recommendedNodeRedis, redisUp, sleep, url } from './helpers.js';

/**
 * node-redis 5 schedules the write of a new command for the end of the
 * event loop's turn (setImmediate). When its connection drops in that same
 * turn, it fails the commands waiting for a reply, and then the scheduled
 * write moves the new commands into the reply queue and writes them into the
 * dead socket. Nothing ever fails them: once reconnected, every reply goes to
 * the command queued before its own, a claim can be told "the key was free"
 * by another claim's reply (a second execution) or be handed another key's
 * stored response. Its offline queue is what keeps those commands; without it
 * (`disableOfflineQueue: true`) the drop fails them too.
 *
 * Here the drop is made certain: right after a reply, in the turn the
 * test's next commands are issued, the client's socket fails as on a
 * connection reset (the test finds it among the process's sockets, through
 * a proxy that knows its port), and the proxy drops the connection.
 */
const up = await redisUp();

interface CuttingProxy {
  readonly url: string;
  /** Drop the connection instead of forwarding the next reply: the command ran, its reply is lost. */
  loseNextReply(): void;
  /** Fail the client's socket now, as a connection reset does, and drop the connection. */
  cut(): void;
  close(): void;
}

/** A TCP proxy to Redis that can cut the client's current connection. */
async function cuttingProxy(): Promise<CuttingProxy> {
  const target = new URL(url);
  let current: { clientPort: number; drop: () => void } | undefined;
  let losing = false;
  const server: Server = createServer((downstream) => {
    const upstream = new Socket();
    upstream.connect(Number(target.port || 6379), target.hostname);
    downstream.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!losing) return void downstream.write(chunk);
      losing = false;
      downstream.resetAndDestroy();
      upstream.destroy();
    });
    current = {
      clientPort: downstream.remotePort ?? 0,
      drop: () => {
        downstream.resetAndDestroy();
        upstream.destroy();
      },
    };
    const end = () => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    loseNextReply() {
      losing = true;
    },
    cut() {
      const connection = current;
      if (!connection) throw new Error('no connection to cut');
      current = undefined;
      const handles = (
        process as unknown as { _getActiveHandles(): unknown[] }
      )._getActiveHandles();
      const socket = handles.find(
        (h): h is Socket =>
          h instanceof Socket && h.localPort === connection.clientPort && h.remotePort === port,
      );
      if (!socket) throw new Error(`no client socket on port ${connection.clientPort}`);
      socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      connection.drop();
    },
    close: () => server.close(),
  };
}

const RECORDS = 16;

/** Complete RECORDS records whose fingerprints name their keys. */
async function seed(store: Store): Promise<string[]> {
  const keys = Array.from({ length: RECORDS }, (_, i) => `k${i}`);
  for (const key of keys) {
    const token = `t-${key}`;
    const claimed = await store.claim(key, { fingerprint: `fp-${key}`, token, leaseMs: 30_000 });
    expect(claimed.claimed).toBe(true);
    const response = { status: 201, headers: [], body: new TextEncoder().encode(key) };
    expect(await store.complete(key, token, response, 60_000)).toBe('ok');
  }
  return keys;
}

describe.skipIf(!up)('node-redis: a connection reset in the turn a command is issued', () => {
  let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
  beforeAll(async () => {
    proxy = await cuttingProxy();
  });
  afterAll(() => proxy?.close());

  it('every reply the store gets is its own command’s, across 20 resets (recommended options)', async ({
    annotate,
  }) => {
    const client = createClient({ ...recommendedNodeRedis, url: proxy.url });
    client.on('error', () => {});
    await client.connect();
    const prefix = freshPrefix('crossed');
    const store = redisStore({ client, prefix });
    try {
      const keys = await seed(store);
      await client.set(`${prefix}cut`, 'x');
      const crossed: string[] = [];
      let answered = 0;
      let failed = 0;
      let hung = 0;
      /** Settles within 3 s; a store call that never settles is counted. */
      const bounded = (reads: Promise<unknown>) =>
        Promise.race([
          reads,
          sleep(3_000).then(() => {
            hung++;
          }),
        ]);
      const check = async (key: string) => {
        try {
          const record = await store.read(key);
          answered++;
          if (record?.fingerprint !== `fp-${key}`) {
            crossed.push(`${key} got ${record?.fingerprint ?? String(record)}`);
          }
        } catch {
          failed++; // a failure is an honest answer: the engine answers 503
        }
      };
      for (let round = 0; round < 20; round++) {
        // The reply to this GET comes with the reset behind it: the reads
        // below are issued, and their write scheduled, in between.
        await bounded(
          client.get(`${prefix}cut`).then(() => {
            const reads = Promise.all(keys.map(check));
            proxy.cut();
            return reads;
          }),
        );
        for (let i = 0; i < 600 && !client.isReady; i++) await sleep(5);
        // On the new connection.
        await bounded(Promise.all(keys.map(check)));
        if (hung > 0) break;
      }
      expect(answered).toBeGreaterThan(0);
      await annotate(
        `crossed replies: ${answered} reads answered, ${failed} failed, ${hung} rounds hung, ${crossed.length} crossed`,
        'figures',
      );
      expect(crossed).toEqual([]);
      expect(hung).toBe(0);
    } finally {
      client.destroy();
    }
  }, 60_000);
});

describe.skipIf(!up)(
  'node-redis: a command that ran, whose reply was lost with its connection',
  () => {
    let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
    beforeAll(async () => {
      proxy = await cuttingProxy();
    });
    afterAll(() => proxy?.close());

    it('is sent again after the reconnect and answers as if the reply had come (claim, complete, renew)', async () => {
      const client = createClient({ ...recommendedNodeRedis, url: proxy.url });
      client.on('error', () => {});
      await client.connect();
      const prefix = freshPrefix('resent');
      const store = redisStore({ client, prefix });
      try {
        const request = { fingerprint: 'fp', token: 'owner-1', leaseMs: 30_000 };
        proxy.loseNextReply();
        // Ran in Redis; sent again, it finds its own token: claimed, not "in flight".
        expect(await store.claim('k', request)).toEqual({ claimed: true });
        proxy.loseNextReply();
        expect(await store.renew('k', 'owner-1', 30_000)).toBe('ok');
        const response = { status: 201, headers: [], body: new TextEncoder().encode('paid') };
        proxy.loseNextReply();
        // Ran in Redis; sent again, it finds its own write: ok, not "stale" (a lost lease).
        expect(await store.complete('k', 'owner-1', response, 60_000)).toBe('ok');
        const record = await store.read('k');
        expect(record?.state).toBe('completed');
        // Another owner's completion is still refused.
        expect(await store.complete('k', 'owner-2', response, 60_000)).toBe('stale');
      } finally {
        client.destroy();
      }
    }, 30_000);
  },
);
