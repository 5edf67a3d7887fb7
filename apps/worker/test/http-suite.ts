import { type HttpTestApp, httpSuite, type TestServer } from '@idem/conformance/http';
import { d1Store } from '@idem/store-d1';
import { durableObjectStore } from '@idem/store-durable-objects';
import { standIns, testCalls } from '@idem/test-runtimes';
import { Miniflare, type Request as MiniflareRequest, Response } from 'miniflare';
import { afterAll, beforeAll, expect } from 'vitest';
import { bundle, COMPATIBILITY_DATE, FAKE_AWS, startDynalite } from './backends.ts';
import { type ServerSpec, SLOTS, type StoreSpec } from './protocol.ts';

/**
 * `@idem/conformance/http` against Hono + idem running inside workerd
 * (miniflare), on the memory store, on @idem/store-dynamodb talking to
 * dynalite over HTTP from inside the Worker, and on @idem/store-d1 and
 * @idem/store-durable-objects on their bindings. The suite sends real HTTP to
 * workerd's sockets; handlers report their runs back over a service binding.
 * conformance.test.ts and conformance.deep.test.ts each run it on some of the
 * stores.
 */

const TABLE = 'idem-worker-conformance';
const D1_TABLE = 'idem_worker_conformance';
/** What the edge stores keep, read from stores on miniflare's proxies of the same bindings. */
let d1Limit: number;
let objectsLimit: number;
let mf: Miniflare;
let dynamo: Awaited<ReturnType<typeof startDynalite>>;

/** Which of the Worker's slots (origins) are taken. */
const taken = new Array<boolean>(SLOTS).fill(false);

/**
 * Stores that live inside the Worker. The suite builds stores in Node and
 * hands them to `createServer`; for these it gets a stand-in that tells the
 * Worker which store to build, and tells the suite how much that store keeps
 * (`maxResponseBytes`). Any other store (the suite's broken store) stays in
 * Node and the Worker calls it over the service binding.
 */
const inWorker = standIns<StoreSpec>('the Worker');
const workerStore = inWorker.store;

/** What only the test can do, answered over the Worker's `HARNESS` service binding. */
const calls = testCalls();

async function createServer(app: HttpTestApp): Promise<TestServer> {
  const slot = taken.indexOf(false);
  if (slot === -1) throw new Error(`more than ${SLOTS} test servers at once: raise SLOTS`);
  const { spec: parts, store } = calls.register(app);
  const spec: ServerSpec = { ...parts, store: inWorker.specOf(store) ?? { kind: 'node' } };
  taken[slot] = true;
  const control = `http://harness/__servers/${slot}`;
  const put = await mf.dispatchFetch(control, { method: 'PUT', body: JSON.stringify(spec) });
  expect(put.status, await put.text()).toBe(204);
  return {
    url: (await mf.unsafeGetDirectURL(undefined, `slot${slot}`)).origin,
    async close() {
      await (await mf.dispatchFetch(control, { method: 'DELETE' })).arrayBuffer();
      calls.unregister(spec.id);
      taken[slot] = false;
    },
  };
}

async function start(): Promise<void> {
  dynamo = await startDynalite(TABLE);
  mf = new Miniflare({
    modules: true,
    script: await bundle('test/harness-worker.ts'),
    compatibilityDate: COMPATIBILITY_DATE,
    // The control entrypoint (dispatchFetch) on an ephemeral loopback port.
    host: '127.0.0.1',
    port: 0,
    // One origin per slot: the suite speaks HTTP to each test server's own
    // host and port (fetch, node:http, and raw sockets that write `POST /echo`).
    unsafeDirectSockets: Array.from({ length: SLOTS }, (_, i) => ({
      entrypoint: `slot${i}`,
      host: '127.0.0.1',
      port: 0,
    })),
    bindings: { ...FAKE_AWS, DYNAMODB_ENDPOINT: dynamo.endpoint },
    d1Databases: { IDEM_DB: 'idem-worker-conformance' },
    durableObjects: { IDEMPOTENCY: { className: 'IdempotencyObject', useSQLite: true } },
    serviceBindings: {
      // Node's Response, read back into miniflare's.
      HARNESS: async (request: MiniflareRequest) => {
        const answer = await calls.answer(request as unknown as Request);
        return new Response(await answer.arrayBuffer(), {
          status: answer.status,
          headers: [...answer.headers],
        });
      },
    },
  });
  await mf.ready;
  // The table, created from Node as a deploy step would (wrangler d1 migrations apply).
  const d1 = d1Store({ database: await mf.getD1Database('IDEM_DB'), table: D1_TABLE });
  await d1.migrate();
  d1Limit = d1.maxResponseBytes;
  const namespace = await mf.getDurableObjectNamespace('IDEMPOTENCY');
  objectsLimit = durableObjectStore({ namespace }).maxResponseBytes;
}

/**
 * No check is left out. workerd hands the Worker what the suite sends (two
 * `Idempotency-Key` lines arrive joined by `, ` and are refused as a list;
 * control characters and Latin-1 bytes reach idem, which refuses them), and
 * timers, streams and 1 MiB bodies work as on Node. The DynamoDB store keeps
 * bodies up to 350 KiB (DynamoDB items hold at most 400 KB): the suite reads
 * that limit from the store and expects 410 response-not-stored beyond it.
 * D1 and Durable Objects keep up to 1.75 MiB (their rows hold at most 2 MB),
 * so on them the 1 MiB response is stored and replayed like any other.
 */
const STORES = {
  memory: () => workerStore({ kind: 'memory' }),
  dynamodb: () => workerStore({ kind: 'dynamodb', tableName: TABLE }, dynamo.maxResponseBytes),
  d1: () => workerStore({ kind: 'd1', table: D1_TABLE }, d1Limit),
  'durable-objects': () => workerStore({ kind: 'durable-objects' }, objectsLimit),
};

/** The stores the Worker builds for the suite. */
export type WorkerStoreName = keyof typeof STORES;

/** Start the Worker for the file's tests and declare the suite on `stores`. */
export function workerHttpSuite(stores: readonly WorkerStoreName[]): void {
  beforeAll(start, 120_000);
  afterAll(async () => {
    await mf?.dispose();
    await dynamo?.close();
  });
  httpSuite({
    name: 'hono in workerd (miniflare)',
    stores: Object.fromEntries(stores.map((name) => [name, STORES[name]])),
    createServer,
    timeoutMs: 120_000,
  });
}
