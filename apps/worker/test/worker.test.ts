import { createServer } from 'node:net';
import { d1Store } from '@idem/store-d1';
import { runtimeOutput } from '@idem/test-workerd';
import { Miniflare, type WorkerOptions } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, COMPATIBILITY_DATE, FAKE_AWS, startDynalite } from './backends.ts';

/**
 * The example Worker (src/index.ts), bundled as for `wrangler deploy`, in
 * workerd. Two Workers with the same script stand for two isolates (two
 * Cloudflare locations, or a fresh isolate after an eviction): the memory
 * store is per isolate; Durable Objects, D1 and DynamoDB are shared.
 */

const TABLE = 'idem-worker-example';
let script: string;
let dynamo: Awaited<ReturnType<typeof startDynalite>>;

beforeAll(async () => {
  script = await bundle('src/index.ts');
  dynamo = await startDynalite(TABLE);
}, 120_000);

afterAll(() => dynamo?.close());

/** A loopback port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Isolate = 'a' | 'b';

/** Two isolates of the example Worker with these bindings (and per-Worker options). */
async function twoIsolates(
  bindings: Record<string, string>,
  more: (name: Isolate) => Partial<WorkerOptions> = () => ({}),
) {
  const worker = (name: Isolate) =>
    ({
      ...more(name),
      name,
      // miniflare.dispatchFetch picks the Worker by the request's host.
      routes: [`${name}.example.com/*`],
      modules: true,
      script,
      compatibilityDate: COMPATIBILITY_DATE,
      // Deliberately none: idem, Hono and the SDK's browser build need no nodejs_compat.
      compatibilityFlags: [],
      bindings,
    }) as WorkerOptions;
  // What the Workers print (idem's warnings) is kept for the tests to check,
  // not passed through to the test run's output.
  const output = runtimeOutput();
  const mf = new Miniflare({
    workers: [worker('a'), worker('b')],
    handleRuntimeStdio: output.handleRuntimeStdio,
  });
  await mf.ready;
  const pay = async (isolate: Isolate, key: string | undefined, amount = 100) => {
    const response = await mf.dispatchFetch(`http://${isolate}.example.com/payments`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer account-1',
        'content-type': 'application/json',
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
      body: JSON.stringify({ amount }),
    });
    const text = await response.text();
    return {
      status: response.status,
      replayed: response.headers.get('idempotent-replayed'),
      type: response.headers.get('content-type'),
      body: JSON.parse(text) as Record<string, unknown>,
    };
  };
  return { mf, pay, printed: output.text };
}

/** Workerd writes a Worker's console asynchronously: wait until `pattern` shows up. */
async function waitForPrinted(w: { printed(): string }, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 100 && !pattern.test(w.printed()); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return w.printed();
}

describe('example Worker on the memory store (per isolate)', () => {
  let w: Awaited<ReturnType<typeof twoIsolates>>;
  beforeAll(async () => {
    w = await twoIsolates({});
  }, 120_000);
  afterAll(() => w?.mf.dispose());

  it('charges once per key and replays the charge to a retry', async () => {
    const first = await w.pay('a', 'order-1');
    expect(first).toMatchObject({ status: 201, replayed: null, body: { amount: 100 } });
    expect(first.body.id).toMatch(/^ch_/);
    const retry = await w.pay('a', 'order-1');
    expect(retry).toEqual({ ...first, replayed: 'true' });
  });

  it('answers the protocol errors as problems', async () => {
    expect(await w.pay('a', undefined)).toMatchObject({
      status: 400,
      type: 'application/problem+json',
      body: { type: 'urn:idem:problem:key-missing' },
    });
    await w.pay('a', 'order-2', 100);
    expect(await w.pay('a', 'order-2', 999)).toMatchObject({
      status: 422,
      body: { type: 'urn:idem:problem:fingerprint-mismatch' },
    });
    const home = await w.mf.dispatchFetch('http://a.example.com/');
    expect(home.status).toBe(200);
    await home.arrayBuffer();
  });

  it('keeps records in one isolate only: a retry on another isolate charges again', async () => {
    const first = await w.pay('a', 'order-3');
    const elsewhere = await w.pay('b', 'order-3');
    expect(elsewhere).toMatchObject({ status: 201, replayed: null });
    expect(elsewhere.body.id).not.toBe(first.body.id);
  });
});

type Isolates = Awaited<ReturnType<typeof twoIsolates>>;

/** Both isolates race `n` duplicates of one payment; exactly one may charge. */
async function expectOneCharge(w: Isolates, key: string, n: number) {
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) => w.pay(i % 2 ? 'a' : 'b', key)),
  );
  const charged = replies.filter((r) => r.status === 201 && r.replayed === null);
  expect(charged).toHaveLength(1);
  for (const r of replies) {
    if (r === charged[0]) continue;
    // A duplicate either found the first in flight (409) or finished (replay).
    if (r.status === 409) expect(r.body.type).toBe('urn:idem:problem:request-in-flight');
    else expect(r).toEqual({ ...charged[0], replayed: 'true' });
  }
}

/**
 * What a store every isolate shares must do: the example Worker on two
 * isolates `open` starts, within the current describe block.
 */
function sharedAcrossIsolates(open: () => Promise<Isolates>): void {
  let w: Isolates;
  beforeAll(async () => {
    w = await open();
  }, 120_000);
  afterAll(() => w?.mf.dispose());

  it('replays a charge made on one isolate to a retry on another', async () => {
    const first = await w.pay('a', 'order-1');
    expect(first).toMatchObject({ status: 201, replayed: null, body: { amount: 100 } });
    expect(await w.pay('b', 'order-1')).toEqual({ ...first, replayed: 'true' });
    expect(await w.pay('a', 'order-1')).toEqual({ ...first, replayed: 'true' });
  });

  it('lets exactly one of parallel duplicates across isolates charge', async () => {
    for (let round = 0; round < 5; round++) await expectOneCharge(w, `order-race-${round}`, 12);
  });
}

describe('example Worker on DynamoDB (dynalite over HTTP, from inside workerd)', () => {
  // The Worker reaches dynalite on 127.0.0.1: miniflare's default outbound
  // network allows private and loopback addresses (Cloudflare's does not).
  sharedAcrossIsolates(() =>
    twoIsolates({ ...FAKE_AWS, IDEM_TABLE: TABLE, DYNAMODB_ENDPOINT: dynamo.endpoint }),
  );

  it('answers 503, without charging, when DynamoDB is unreachable', async () => {
    const down = await twoIsolates({
      ...FAKE_AWS,
      IDEM_TABLE: TABLE,
      DYNAMODB_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
    });
    try {
      expect(await down.pay('a', 'order-3')).toMatchObject({
        status: 503,
        body: { type: 'urn:idem:problem:store-unavailable' },
      });
      // idem reported the failure to the Worker's log (its default logger).
      expect(await waitForPrinted(down, /idem: the store failed/)).toMatch(
        /idem: the store failed during claim/,
      );
    } finally {
      await down.mf.dispose();
    }
  }, 120_000);
});

describe('example Worker on D1 (one database bound to both isolates)', () => {
  sharedAcrossIsolates(async () => {
    const w = await twoIsolates({}, () => ({ d1Databases: { IDEM_DB: 'idem-worker-example' } }));
    // The table, created from Node as a deploy step would (wrangler d1 migrations apply).
    await d1Store({ database: await w.mf.getD1Database('IDEM_DB', 'a') }).migrate();
    return w;
  });

  it('answers 503, without charging, when the table was never created', async () => {
    const bare = await twoIsolates({}, () => ({ d1Databases: { IDEM_DB: 'idem-unmigrated' } }));
    try {
      expect(await bare.pay('a', 'order-3')).toMatchObject({
        status: 503,
        body: { type: 'urn:idem:problem:store-unavailable' },
      });
      // idem told the Worker's log, loudly, what is missing and how to fix it.
      expect(await waitForPrinted(bare, /store is not set up/)).toMatch(
        /store is not set up[\s\S]*migrate/,
      );
    } finally {
      await bare.mf.dispose();
    }
  }, 120_000);
});

describe('example Worker on Durable Objects (one namespace bound to both isolates)', () => {
  // Worker a defines the namespace (its export IdempotencyObject, with SQLite
  // storage as new_sqlite_classes declares); b binds the same one.
  sharedAcrossIsolates(() =>
    twoIsolates({}, (name) => ({
      durableObjects: {
        IDEMPOTENCY: {
          className: 'IdempotencyObject',
          useSQLite: true,
          ...(name === 'b' ? { scriptName: 'a' } : {}),
        },
      },
    })),
  );
});
