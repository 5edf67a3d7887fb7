import { createServer, type Server, type Socket } from 'node:net';
import type { Store } from '@idem/core/store';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRedisStore } from './backends.js';

/** A TCP server that accepts connections and never answers a byte: a hung Redis or PostgreSQL. */
export interface BlackHole {
  readonly port: number;
  close(): Promise<void>;
}

/** Start a {@link BlackHole} on an ephemeral loopback port. */
export async function blackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.resume(); // read and drop whatever the client sends
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A store on a black hole, with the client made as a new user makes it (default options). */
export interface HungStore {
  readonly name: string;
  readonly store: Store;
  close(): Promise<void>;
}

/**
 * The network stores on a server that never answers, each on its client's
 * defaults: `new Redis(url)` (ioredis queues commands while it waits for a
 * ready check that never comes), node-redis' `createClient({ url,
 * disableOfflineQueue: true })` (the least the store takes: its handshake
 * never completes, so the client stays offline) and
 * `new pg.Pool(...)` (no connection timeout: connect waits forever). Only
 * idem's own `storeTimeoutMs` can end such a request.
 */
export async function hungStores(hole: BlackHole): Promise<HungStore[]> {
  const postgresStore = await loadPostgresStore();
  const redisStore = await loadRedisStore();
  const redis = new Redis(`redis://127.0.0.1:${hole.port}`);
  redis.on('error', () => {});
  const nodeRedis = createClient({
    url: `redis://127.0.0.1:${hole.port}`,
    disableOfflineQueue: true,
  });
  nodeRedis.on('error', () => {});
  nodeRedis.connect().catch(() => {}); // never resolves: the server never answers the handshake
  const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${hole.port}/test` });
  pool.on('error', () => {});
  return [
    {
      name: 'ioredis, default client',
      store: redisStore({ client: redis }),
      close: async () => redis.disconnect(),
    },
    {
      name: 'node-redis, offline queue off',
      store: redisStore({ client: nodeRedis, prefix: 'idem:' }),
      close: async () => nodeRedis.destroy(),
    },
    {
      name: 'pg, default Pool',
      store: postgresStore({ pool }),
      // end() would wait for the connections that never finish starting.
      close: async () => void pool.end().catch(() => {}),
    },
  ];
}

/**
 * A store whose `complete` never settles (every other operation on `inner`):
 * the handler's own response must still reach the client.
 */
export function completeNeverSettles(inner: Store): Store {
  return {
    claim: (...args) => inner.claim(...args),
    complete: () => new Promise(() => {}),
    release: (...args) => inner.release(...args),
    renew: (...args) => inner.renew(...args),
    read: (...args) => inner.read(...args),
  };
}

/** See backends.ts: loaded by path, to keep the workspace free of a dependency cycle. */
async function loadPostgresStore(): Promise<(options: { pool: pg.Pool; table?: string }) => Store> {
  const source = '../../../packages/store-postgres/src/index.ts';
  return ((await import(source)) as { postgresStore: (o: { pool: pg.Pool }) => Store })
    .postgresStore;
}

/** A test server with one route, `POST /pay`, answering `201 {"charged": <run>}`. */
export interface PayServer {
  readonly url: string;
  /** How many times the route's handler ran. */
  runs(): number;
  close(): Promise<void>;
}

/** Starts an adapter's app with idem mounted on these options, and `POST /pay`. */
export type StartPayServer = (options: {
  readonly store: Store;
  readonly storeTimeoutMs: number;
  readonly logger: false;
}) => Promise<PayServer>;

const TIMEOUT_MS = 300;

async function pay(url: string, key: string) {
  const started = Date.now();
  const res = await fetch(`${url}/pay`, {
    method: 'POST',
    headers: { 'idempotency-key': key, 'content-type': 'application/json' },
    body: '{"amount":100}',
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.text(), ms: Date.now() - started };
}

/**
 * The hung-store checks for one adapter: a store that accepts and never
 * answers (ioredis and pg clients on their defaults, node-redis with its
 * offline queue off, the least the store takes) answers 503 within
 * `storeTimeoutMs` without running the handler, and a `complete` that never
 * settles never holds the handler's response back.
 */
export function describeHungStores(adapter: string, start: StartPayServer): void {
  describe(`${adapter}: a store that never answers`, () => {
    let hole: BlackHole;
    let stores: HungStore[] = [];
    beforeAll(async () => {
      hole = await blackHole();
      stores = await hungStores(hole);
    });
    afterAll(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await hole.close();
    });

    it('answers 503 store-unavailable in bounded time and never runs the handler (default ioredis and pg clients, node-redis without its offline queue)', async () => {
      for (const { name, store } of stores) {
        const server = await start({ store, storeTimeoutMs: TIMEOUT_MS, logger: false });
        try {
          const reply = await pay(server.url, `hung-${name.replace(/\W+/g, '-')}`);
          expect(reply.status, name).toBe(503);
          expect(JSON.parse(reply.body), name).toMatchObject({
            type: 'urn:idem:problem:store-unavailable',
          });
          expect(reply.ms, name).toBeLessThan(TIMEOUT_MS + 3_000);
          expect(server.runs(), name).toBe(0);
        } finally {
          await server.close();
        }
      }
    });

    it("a completion that never settles does not hold back the handler's answer, and the retry does not run it again", async () => {
      const { memoryStore } = await import('@idem/store-memory');
      const server = await start({
        store: completeNeverSettles(memoryStore()),
        storeTimeoutMs: TIMEOUT_MS,
        logger: false,
      });
      try {
        const first = await pay(server.url, 'never-settles');
        expect(first.status).toBe(201);
        expect(JSON.parse(first.body)).toEqual({ charged: 1 });
        expect(first.ms).toBeLessThan(TIMEOUT_MS + 3_000);
        const retry = await pay(server.url, 'never-settles');
        expect(retry.status).toBe(409);
        expect(server.runs()).toBe(1);
      } finally {
        await server.close();
      }
    });
  });
}
