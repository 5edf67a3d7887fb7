import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Server } from 'node:net';
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { createIdempotency, RequestInFlightError, ResponseNotStoredError } from '@idem/core';
import {
  ConfigurationError,
  ResponseTooLargeError,
  type Store,
  StoreUnavailableError,
  scopedKey,
} from '@idem/core/store';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import {
  countRoundTrips,
  makeClient,
  openBackend,
  startDynalite,
  tableName,
  withAllOld,
} from './backend.js';

const backend = await openBackend();
const client = makeClient(backend.endpoint);
const table = tableName('store');
if (backend.up) await dynamoDbStore({ client, tableName: table }).createTable();
const clients: DynamoDBClient[] = [client];
const servers: Server[] = [];

afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) s.close();
  await backend.close();
});

let counter = 0;
const freshKey = () => scopedKey('store-dynamodb-test', `${Date.now()}-${counter++}`);
const claimRequest = (fingerprint = 'fp', leaseMs = 30_000) => ({
  fingerprint,
  token: crypto.randomUUID(),
  leaseMs,
});
const response = (text: string) => ({
  status: 201,
  headers: [['content-type', 'text/plain'] as const],
  body: new TextEncoder().encode(text),
});

/** A client whose every request fails fast: one attempt, short timeouts. */
function fastFailingClient(endpoint: string): DynamoDBClient {
  const c = makeClient(endpoint, {
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 200, requestTimeout: 300, throwOnRequestTimeout: true },
  });
  clients.push(c);
  return c;
}

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Every store operation, for checks that all of them behave alike. */
function everyOperation(store: Store, key: string) {
  return {
    claim: () => store.claim(key, claimRequest()),
    complete: () => store.complete(key, 't', response('x'), 60_000),
    release: () => store.release(key, 't'),
    renew: () => store.renew(key, 't', 1_000),
    read: () => store.read(key),
  };
}

describe.skipIf(!backend.up)('dynamoDbStore', () => {
  const store = dynamoDbStore({ client, tableName: table });

  it('costs one round trip per operation; a lost claim two only where ALL_OLD is not returned', async () => {
    const counted = makeClient(backend.endpoint);
    clients.push(counted);
    const trips = countRoundTrips(counted);
    const measured = dynamoDbStore({ client: counted, tableName: table });
    const withOld = dynamoDbStore({
      client: withAllOld(counted, backend.endpoint),
      tableName: table,
    });
    const measure = async (op: () => Promise<unknown>) => {
      trips.clear();
      await op();
      return Object.fromEntries(trips);
    };
    const key = await freshKey();
    const owner = claimRequest();
    expect(await measure(() => measured.claim(key, owner))).toEqual({ PutItem: 1 });
    expect(await measure(() => measured.read(key))).toEqual({ GetItem: 1 });
    expect(await measure(() => measured.renew(key, owner.token, 30_000))).toEqual({
      UpdateItem: 1,
    });
    const lost = await measure(() => measured.claim(key, claimRequest()));
    if (backend.local) expect(lost).toEqual({ PutItem: 1, GetItem: 1 }); // dynalite: no ALL_OLD
    expect(await measure(() => withOld.claim(key, claimRequest()))).toEqual({ PutItem: 1 });
    expect(await measure(() => measured.complete(key, owner.token, response('a'), 60_000))).toEqual(
      { UpdateItem: 1 },
    );
    expect(await measure(() => measured.complete(key, owner.token, response('b'), 60_000))).toEqual(
      { UpdateItem: 1 },
    );
    expect(await measure(() => withOld.claim(key, claimRequest()))).toEqual({ PutItem: 1 });
    const other = await freshKey();
    const second = claimRequest();
    await measured.claim(other, second);
    expect(await measure(() => measured.release(other, second.token))).toEqual({ DeleteItem: 1 });
    expect(await measure(() => measured.release(other, second.token))).toEqual({ DeleteItem: 1 });
  });

  it('a response over the item limit ran once: the retry gets ResponseNotStoredError', async () => {
    const idem = createIdempotency({ store });
    const key = `too-large-${Date.now()}`;
    let runs = 0;
    const big = 'x'.repeat(500_000);
    const first = await idem.run(key, () => {
      runs++;
      return big;
    });
    expect(first).toEqual({ kind: 'executed', value: big });
    await expect(
      idem.run(key, () => {
        runs++;
        return big;
      }),
    ).rejects.toBeInstanceOf(ResponseNotStoredError);
    expect(runs).toBe(1);
  });

  it('headers that push the item past 400 KB are refused before any write, and recorded as not stored', async () => {
    const key = await freshKey();
    const owner = claimRequest();
    await store.claim(key, owner);
    const huge = {
      status: 200,
      headers: [['x-padding', 'p'.repeat(60_000)] as const],
      body: new Uint8Array(store.maxResponseBytes),
    };
    const counted = makeClient(backend.endpoint);
    clients.push(counted);
    const trips = countRoundTrips(counted);
    const direct = dynamoDbStore({ client: counted, tableName: table });
    await expect(direct.complete(key, owner.token, huge, 60_000)).rejects.toBeInstanceOf(
      ResponseTooLargeError,
    );
    expect(trips.size).toBe(0);
    expect((await store.read(key))?.state).toBe('in_progress');

    const idem = createIdempotency({ store });
    const decision = await idem.begin({ scope: 's', key: `${key}-engine`, fingerprint: 'fp' });
    expect(decision.kind).toBe('execute');
    if (decision.kind === 'execute') await decision.complete(huge);
    await expect(
      idem.begin({ scope: 's', key: `${key}-engine`, fingerprint: 'fp' }),
    ).rejects.toBeInstanceOf(ResponseNotStoredError);
  });

  it('keeps the documented item layout: ms deadlines, TTL in epoch seconds, binary body', async () => {
    let now = 1_800_000_000_123;
    const clocked = dynamoDbStore({ client, tableName: table, now: () => now });
    const key = await freshKey();
    const owner = claimRequest('fp', 30_000);
    await clocked.claim(key, owner);
    const raw = async () =>
      (
        await client.send(
          new GetItemCommand({ TableName: table, Key: { pk: { S: key } }, ConsistentRead: true }),
        )
      ).Item;
    expect(await raw()).toEqual({
      pk: { S: key },
      state: { S: 'in_progress' },
      fingerprint: { S: 'fp' },
      token: { S: owner.token },
      leaseExpiresAt: { N: '1800000030123' },
      ttl: { N: String(1_800_000_031 + 3600) },
    });
    now += 1_000;
    await clocked.complete(key, owner.token, response('done'), 86_400_000);
    const item = await raw();
    expect(item).toEqual({
      pk: { S: key },
      state: { S: 'completed' },
      fingerprint: { S: 'fp' },
      expiresAt: { N: '1800086401123' },
      ttl: { N: String(1_800_086_402 + 3600) },
      status: { N: '201' },
      headers: { S: '[["content-type","text/plain"]]' },
      body: { B: new TextEncoder().encode('done') },
    });
  });

  it('a claim whose own earlier attempt won (an SDK retry after a lost response) owns the key', async () => {
    const key = await freshKey();
    const request = claimRequest();
    expect(await store.claim(key, request)).toEqual({ claimed: true });
    expect(await store.claim(key, request)).toEqual({ claimed: true });
    expect(await store.claim(key, claimRequest())).toMatchObject({ claimed: false });
  });

  it('creates its table idempotently, tolerating endpoints without TTL support', async () => {
    await expect(store.createTable()).resolves.toBeUndefined();
  });

  it('names the fix when the table is missing or holds foreign items', async () => {
    const missing = dynamoDbStore({ client, tableName: 'idem-no-such-table' });
    await expect(missing.read('k')).rejects.toThrow(/was not found.*createTable\(\)/);
    await expect(missing.claim('k', claimRequest())).rejects.toThrow(/was not found/);
    const key = await freshKey();
    await client.send(
      new PutItemCommand({ TableName: table, Item: { pk: { S: key }, other: { S: 'app' } } }),
    );
    await expect(store.read(key)).rejects.toThrow(/not an idem record/);
  });

  it('refuses unusable options with a ConfigurationError that names the fix', () => {
    expect(() => dynamoDbStore({} as never)).toThrow(ConfigurationError);
    expect(() => dynamoDbStore({} as never)).toThrow(
      'idem: dynamoDbStore(): option "client" must be a DynamoDB client, such as new DynamoDBClient({}) from @aws-sdk/client-dynamodb, got undefined.',
    );
    expect(() => dynamoDbStore({ client } as never)).toThrow(
      'idem: dynamoDbStore(): option "tableName" must be the name of a DynamoDB table (3 to 255 characters), got undefined.',
    );
    expect(() => dynamoDbStore({ client, tableName: 'idem', now: 5 } as never)).toThrow(
      'idem: dynamoDbStore(): option "now" must be a function returning epoch milliseconds, such as Date.now, got 5.',
    );
    // Names first: `table` is a typo of tableName, not a missing one.
    expect(() => dynamoDbStore({ client, table: 'idem' } as never)).toThrow(
      'idem: dynamoDbStore(): unknown option "table" (did you mean "tableName"?); the options are client, tableName, now.',
    );
  });
});

/**
 * idem's log, kept instead of printed: the tests that fail the store on
 * purpose check what idem reported there.
 */
function keptLog() {
  const lines: string[] = [];
  const keep = (message: string) => void lines.push(message);
  return { lines, logger: { warn: keep, error: keep } };
}

describe('dynamoDbStore against a failing DynamoDB', () => {
  it('maps an item-size ValidationException to ResponseTooLargeError and changes nothing', async () => {
    const small = await startDynalite({ maxItemSizeKb: 4 });
    const c = makeClient(small.endpoint);
    clients.push(c);
    const store = dynamoDbStore({ client: c, tableName: tableName('small') });
    try {
      await store.createTable();
      const key = await freshKey();
      const owner = claimRequest();
      await store.claim(key, owner);
      const body = { status: 200, headers: [], body: new Uint8Array(5_000) };
      await expect(store.complete(key, owner.token, body, 60_000)).rejects.toBeInstanceOf(
        ResponseTooLargeError,
      );
      expect((await store.read(key))?.state).toBe('in_progress');
      expect(await store.complete(key, owner.token, response('ok'), 60_000)).toBe('ok');
    } finally {
      await small.close();
    }
  });

  it('throws on every operation when nothing listens; the engine answers StoreUnavailableError', async () => {
    const probe = createTcpServer();
    const endpoint = await listen(probe);
    await new Promise((r) => probe.close(r));
    const store = dynamoDbStore({ client: fastFailingClient(endpoint), tableName: 'idem-closed' });
    for (const [name, op] of Object.entries(everyOperation(store, 'k'))) {
      await expect(op(), name).rejects.toThrow();
    }
    let runs = 0;
    const log = keptLog();
    await expect(
      createIdempotency({ store, logger: log.logger }).run('k', () => {
        runs++;
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(runs).toBe(0);
    expect(log.lines).toEqual([
      expect.stringMatching(/^idem: the store failed during claim: connect ECONNREFUSED/),
    ]);
  });

  it('throws when DynamoDB accepts the connection but never answers (timeout)', async () => {
    const endpoint = await listen(createTcpServer(() => {}));
    const store = dynamoDbStore({ client: fastFailingClient(endpoint), tableName: 'idem-hang' });
    const started = Date.now();
    for (const [name, op] of Object.entries(everyOperation(store, 'k'))) {
      await expect(op(), name).rejects.toThrow();
    }
    expect(Date.now() - started).toBeLessThan(5 * 2_000);
  });

  it('surfaces throttling after the client has retried it', async () => {
    let requests = 0;
    const throttling = createServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
            message: 'Rate of requests exceeds the allowed throughput.',
          }),
        );
      });
    });
    const endpoint = await listen(throttling as unknown as Server);
    const c = makeClient(endpoint, { maxAttempts: 2 });
    clients.push(c);
    const store = dynamoDbStore({ client: c, tableName: 'idem-throttled' });
    await expect(store.claim('k', claimRequest())).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
    expect(requests).toBe(2);
    let runs = 0;
    const log = keptLog();
    await expect(
      createIdempotency({ store, logger: log.logger }).run('k', () => {
        runs++;
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(runs).toBe(0);
    expect(log.lines).toEqual([
      expect.stringMatching(/^idem: the store failed during claim: Rate of requests exceeds/),
    ]);
  });

  it('throws once dynalite goes away mid-run; the response still goes out, retries get 503', async () => {
    const dyn = await startDynalite();
    const store = dynamoDbStore({
      client: fastFailingClient(dyn.endpoint),
      tableName: tableName('closing'),
    });
    await store.createTable();
    const key = await freshKey();
    const owner = claimRequest();
    expect(await store.claim(key, owner)).toEqual({ claimed: true });
    const log = keptLog();
    const idem = createIdempotency({ store, leaseMs: 200, ttlMs: 60_000, logger: log.logger });
    let runs = 0;
    const first = await idem.run('mid-run', async () => {
      runs++;
      await dyn.close();
      return 'charged';
    });
    expect(first).toEqual({ kind: 'executed', value: 'charged' });
    await expect(store.complete(key, owner.token, response('x'), 60_000)).rejects.toThrow();
    await expect(idem.run('mid-run', () => runs++)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(runs).toBe(1);
    // The failed completion was reported at once; the refused retry, within the minute, is counted.
    expect(log.lines).toEqual([expect.stringContaining('idem: the store failed during complete')]);
  });

  it('a claim refused while in flight is a 409, not an outage', async () => {
    const dyn = await startDynalite();
    const c = makeClient(dyn.endpoint);
    clients.push(c);
    const store = dynamoDbStore({ client: c, tableName: tableName('inflight') });
    try {
      await store.createTable();
      const idem = createIdempotency({ store });
      let release!: () => void;
      const running = idem.run('k', () => new Promise<void>((r) => (release = r)));
      await new Promise((r) => setTimeout(r, 50));
      await expect(idem.run('k', () => {})).rejects.toBeInstanceOf(RequestInFlightError);
      release();
      await running;
    } finally {
      await dyn.close();
    }
  });
});

describe('the store source', () => {
  it('imports nothing but the AWS SDK client and @idem/core/store (no Node built-ins: edge runtimes)', () => {
    const source = readFileSync(new URL('../src/index.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'/g)].map(
      (m) => m[1] ?? m[2],
    );
    expect(new Set(imports)).toEqual(new Set(['@aws-sdk/client-dynamodb', '@idem/core/store']));
    expect(source).not.toMatch(/(?<![.\w$])(?:Buffer|process|require|__dirname)\s*[.(]/);
  });

  it('sends complete as one UpdateItem conditional on the owner and a live lease', async () => {
    // Guards the expression text documented in the README.
    const sent: unknown[] = [];
    const fake = {
      send: async (command: unknown) => {
        sent.push(command);
        return {};
      },
    } as unknown as DynamoDBClient;
    const store = dynamoDbStore({ client: fake, tableName: 'idem-fake', now: () => 1_000 });
    expect(await store.complete('k', 't', response('x'), 5_000)).toBe('ok');
    expect(sent).toHaveLength(1);
    const input = (sent[0] as UpdateItemCommand).input;
    expect(sent[0]).toBeInstanceOf(UpdateItemCommand);
    expect(input.ConditionExpression).toBe(
      '#token = :token AND #state = :inProgress AND #leaseExpiresAt > :now',
    );
    expect(input.ExpressionAttributeValues?.[':now']).toEqual({ N: '1000' });
    expect(input.ExpressionAttributeValues?.[':expiresAt']).toEqual({ N: '6000' });
  });
});
