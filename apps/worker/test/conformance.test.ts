import {
  type HeaderReader,
  type HttpTestApp,
  httpSuite,
  type RouteName,
  type TestServer,
} from '@idem/conformance/http';
import type { Store } from '@idem/core';
import { d1Store } from '@idem/store-d1';
import { durableObjectStore } from '@idem/store-durable-objects';
import { decode, encode } from '@idem/test-runtimes/wire';
import { Miniflare, Response } from 'miniflare';
import { afterAll, beforeAll, expect } from 'vitest';
import { bundle, COMPATIBILITY_DATE, FAKE_AWS, startDynalite } from './backends.ts';
import { type ServerSpec, SLOTS, type StoreSpec } from './protocol.ts';

/**
 * `@idem/conformance/http` against Hono + idem running inside workerd
 * (miniflare), on the memory store, on @idem/store-dynamodb talking to
 * dynalite over HTTP from inside the Worker, and on @idem/store-d1 and
 * @idem/store-durable-objects on their bindings. The suite sends real HTTP to
 * workerd's sockets; handlers report their runs back over a service binding.
 */

const TABLE = 'idem-worker-conformance';
const D1_TABLE = 'idem_worker_conformance';
/** What the edge stores keep, read from stores on miniflare's proxies of the same bindings. */
let d1Limit: number;
let objectsLimit: number;
let mf: Miniflare;
let dynamo: Awaited<ReturnType<typeof startDynalite>>;

/** The suite's test apps by server id: the service binding answers for them. */
const apps = new Map<string, HttpTestApp>();
let ids = 0;
/** Which of the Worker's slots (origins) are taken. */
const taken = new Array<boolean>(SLOTS).fill(false);

/**
 * Stores that live inside the Worker. The suite builds stores in Node and
 * hands them to `createServer`; for these it gets a stand-in that tells the
 * Worker which store to build, and tells the suite how much that store keeps
 * (`maxResponseBytes`). Any other store (the suite's broken store) stays in
 * Node and the Worker calls it over the service binding.
 */
const inWorker = new WeakMap<Store, StoreSpec>();
function workerStore(spec: StoreSpec, maxResponseBytes?: number): Store {
  const elsewhere = () => Promise.reject(new Error('this store lives inside the Worker'));
  const store: Store = {
    claim: elsewhere,
    complete: elsewhere,
    release: elsewhere,
    renew: elsewhere,
    read: elsewhere,
    ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
  };
  inWorker.set(store, spec);
  return store;
}

function holdsFunction(value: unknown): boolean {
  if (typeof value === 'function') return true;
  if (value === null || typeof value !== 'object') return false;
  return Object.values(value).some(holdsFunction);
}

/** Options that may be functions of the request: the Worker asks the test for their answers. */
const OF_THE_REQUEST = ['skip', 'key', 'fingerprint', 'ttlMs', 'leaseMs'];

/** `options` as plain data for the Worker, and the names of its functions of the request. */
function forWorker(options: Record<string, unknown>, where: string) {
  const data: Record<string, unknown> = {};
  const functions: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    if (typeof value === 'function' && OF_THE_REQUEST.includes(name)) functions.push(name);
    else if (holdsFunction(value)) {
      throw new Error(
        `${where} option ${name} holds functions, which cannot be sent into the Worker`,
      );
    } else data[name] = value;
  }
  return { data, functions };
}

type Options = Record<string, ((...args: unknown[]) => unknown) | undefined>;

/** A header reader over the header lines the Worker sent. */
function headerReader(lines: Array<[string, string]>): HeaderReader {
  const headers = new Headers(lines);
  return (name) => headers.get(name) ?? undefined;
}

/**
 * What the Worker asks of the test: `/enter/<id>/<route>`, `/scope/<id>`,
 * `/functions/<id>` (what skip, key, ttlMs and leaseMs say of a request),
 * `/fingerprint/<id>/<mount|route>`, `/store/<id>/<method>`.
 */
async function answerWorker(request: Request): Promise<Response> {
  const [, what, id = '', arg = ''] = new URL(request.url).pathname.split('/');
  const app = apps.get(id);
  if (!app) return new Response(`no test server ${id}`, { status: 404 });
  try {
    if (what === 'enter') return new Response(String(await app.enter(arg as RouteName)));
    if (what === 'scope') {
      const headers = new Headers((await request.json()) as Array<[string, string]>);
      return new Response(await app.options.scope!((name) => headers.get(name) ?? undefined));
    }
    if (what === 'functions') {
      const header = headerReader(await request.json());
      const answer = async (options: Options) => {
        const answers: Record<string, unknown> = {};
        for (const name of ['skip', 'key', 'ttlMs', 'leaseMs']) {
          const f = options[name];
          if (typeof f === 'function') answers[name] = await f(header);
        }
        return answers;
      };
      const answers = {
        mount: await answer(app.options as unknown as Options),
        route: await answer(app.routeOptions as unknown as Options),
      };
      return new Response(encode(answers));
    }
    if (what === 'fingerprint') {
      const { headers, ...parts } = decode(await request.text()) as {
        headers: Array<[string, string]>;
      };
      const header = headerReader(headers);
      const options = (arg === 'route' ? app.routeOptions : app.options) as unknown as Options;
      const asked = { ...parts, header: (name: string) => header(name) ?? null };
      return new Response(encode(await options.fingerprint!(header, asked)));
    }
    if (what === 'store') {
      const args = decode(await request.text()) as unknown[];
      const method = arg as 'claim' | 'complete' | 'release' | 'renew' | 'read';
      const operation = app.options.store[method] as (...a: unknown[]) => Promise<unknown>;
      return new Response(encode(await operation.apply(app.options.store, args)));
    }
    return new Response(`unknown call ${what}`, { status: 404 });
  } catch (error) {
    return new Response(error instanceof Error ? error.message : String(error), { status: 500 });
  }
}

async function createServer(app: HttpTestApp): Promise<TestServer> {
  const slot = taken.indexOf(false);
  if (slot === -1) throw new Error(`more than ${SLOTS} test servers at once: raise SLOTS`);
  const { store, scope, shouldStore, ...rest } = app.options;
  const options = forWorker(rest, 'the mount');
  const routeOptions = forWorker({ ...app.routeOptions }, '/own');
  const spec: ServerSpec = {
    id: String(++ids),
    options: options.data,
    routeOptions: routeOptions.data,
    functions: { mount: options.functions, route: routeOptions.functions },
    store: inWorker.get(store) ?? { kind: 'node' },
    scope: scope !== undefined,
    ...(shouldStore && {
      storedStatuses: Array.from({ length: 500 }, (_, i) => 100 + i).filter(shouldStore),
    }),
  };
  taken[slot] = true;
  apps.set(spec.id, app);
  const control = `http://harness/__servers/${slot}`;
  const put = await mf.dispatchFetch(control, { method: 'PUT', body: JSON.stringify(spec) });
  expect(put.status, await put.text()).toBe(204);
  return {
    url: (await mf.unsafeGetDirectURL(undefined, `slot${slot}`)).origin,
    async close() {
      await (await mf.dispatchFetch(control, { method: 'DELETE' })).arrayBuffer();
      apps.delete(spec.id);
      taken[slot] = false;
    },
  };
}

beforeAll(async () => {
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
    serviceBindings: { HARNESS: answerWorker },
  });
  await mf.ready;
  // The table, created from Node as a deploy step would (wrangler d1 migrations apply).
  const d1 = d1Store({ database: await mf.getD1Database('IDEM_DB'), table: D1_TABLE });
  await d1.migrate();
  d1Limit = d1.maxResponseBytes;
  const namespace = await mf.getDurableObjectNamespace('IDEMPOTENCY');
  objectsLimit = durableObjectStore({ namespace }).maxResponseBytes;
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  await dynamo?.close();
});

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
httpSuite({
  name: 'hono in workerd (miniflare)',
  stores: {
    memory: () => workerStore({ kind: 'memory' }),
    dynamodb: () => workerStore({ kind: 'dynamodb', tableName: TABLE }, dynamo.maxResponseBytes),
    d1: () => workerStore({ kind: 'd1', table: D1_TABLE }, d1Limit),
    'durable-objects': () => workerStore({ kind: 'durable-objects' }, objectsLimit),
  },
  createServer,
  timeoutMs: 120_000,
  skipChecks: {
    // A logger is a function, which cannot cross into workerd: idem logs to
    // the Worker's console there, which test/worker.test.ts captures and checks.
    "a failing store is reported once to the options' logger, without the key or the scope":
      "the engine runs inside workerd and logs to the Worker's console (checked in worker.test.ts)",
  },
});
