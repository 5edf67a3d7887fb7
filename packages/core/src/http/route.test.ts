import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../../test/fc.js';
import { testStore } from '../../test/store.js';
import { utf8 } from '../bytes.js';
import { ConfigurationError } from '../errors.js';
import {
  createHttpIdempotency,
  type HttpDecision,
  type HttpIdempotencyOptions,
  type HttpRoute,
} from './handler.js';
import type { ResolvedRoute, RouteOptions } from './route.js';
import { webhooks } from './webhooks.js';

/** The framework context of these tests: the request's headers. */
type Ctx = { readonly headers: Record<string, string> };

interface Sent {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

function request(sent: Sent) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...Object.fromEntries(Object.entries(sent.headers ?? {}).map(([n, v]) => [n.toLowerCase(), v])),
  };
  const body = utf8(sent.body ?? '{}');
  return {
    ctx: { headers } as Ctx,
    http: {
      method: sent.method ?? 'POST',
      path: sent.path ?? '/payments',
      query: '',
      header: (name: string) => headers[name.toLowerCase()] ?? null,
      body: async (limit: number) => (body.byteLength > limit ? undefined : body),
    },
  };
}

/** An HTTP layer, a route of it, and a way to send requests through it, completing executions with 201. */
function setup(base: Partial<HttpIdempotencyOptions<Ctx>> = {}, route?: RouteOptions<Ctx>) {
  const store = testStore();
  const http = createHttpIdempotency<Ctx>({ store, scope: () => 't', logger: false, ...base });
  const resolved = route ? http.route(route) : undefined;
  let runs = 0;
  async function send(sent: Sent, headers: Array<[string, string]> = []) {
    const { ctx, http: req } = request(sent);
    const decision: HttpDecision = await http.handle(req, ctx, undefined, resolved);
    if (decision.kind !== 'execute') return decision;
    runs++;
    await decision.complete({
      status: 201,
      headers: [['content-type', 'application/json'], ...headers],
      body: utf8(`{"run":${runs}}`),
    });
    return decision;
  }
  return { store, http, send, runs: () => runs };
}

const status = (d: HttpDecision) =>
  d.kind === 'respond' ? `${d.response.status}${d.replayed ? ' replay' : ''}` : d.kind;
const problemType = (d: HttpDecision) =>
  d.kind === 'respond' ? JSON.parse(new TextDecoder().decode(d.response.body)).type : undefined;

describe('route options: where the key comes from', () => {
  it('a header of your choice, read as the Idempotency-Key header is', async () => {
    const { send, runs } = setup({}, { key: 'x-delivery' });
    expect(status(await send({ headers: { 'x-delivery': 'd-1' } }))).toBe('execute');
    expect(status(await send({ headers: { 'x-delivery': '"d-1"' } }))).toBe('201 replay');
    expect(status(await send({ headers: { 'idempotency-key': 'd-1' } }))).toBe('400');
    expect(runs()).toBe(1);
  });

  it('the first of several headers present', async () => {
    const { send } = setup({}, { key: ['webhook-id', 'svix-id'] });
    expect(status(await send({ headers: { 'svix-id': 'm-1' } }))).toBe('execute');
    expect(status(await send({ headers: { 'webhook-id': 'm-1' } }))).toBe('201 replay');
  });

  it('a JSON Pointer into the body, with a clear 400 when the body has no such key', async () => {
    const { send, runs } = setup({}, { key: { body: '/data/id' } });
    const body = (id: unknown) => JSON.stringify({ data: { id }, other: 1 });
    expect(status(await send({ body: body('evt_1') }))).toBe('execute');
    expect(status(await send({ body: body('evt_1') }))).toBe('201 replay');
    expect(status(await send({ body: body(42) }))).toBe('execute');
    const missing = await send({ body: '{"data":{}}' });
    expect(problemType(missing)).toBe('urn:idem:problem:key-missing');
    expect(problemType(await send({ body: 'not json' }))).toBe('urn:idem:problem:key-missing');
    expect(problemType(await send({ body: body('bad\u0001key') }))).toBe(
      'urn:idem:problem:key-invalid',
    );
    expect(runs()).toBe(2);
  });

  it('a number in the body is a key only while it is exact: two large ids never become one', async () => {
    const { send, runs } = setup({}, { key: { body: '/event_id' } });
    expect(status(await send({ body: '{"event_id":9007199254740991}' }))).toBe('execute');
    expect(status(await send({ body: '{"event_id":9007199254740991}' }))).toBe('201 replay');
    // JSON.parse reads both of these as 1234567890123456800.
    for (const id of ['1234567890123456789', '1234567890123456790', '1.5']) {
      const refused = await send({ body: `{"event_id":${id}}` });
      expect(problemType(refused)).toBe('urn:idem:problem:key-invalid');
      expect(refused.kind === 'respond' && new TextDecoder().decode(refused.response.body)).toMatch(
        /send it as a string/,
      );
    }
    expect(runs()).toBe(1);
  });

  it('a function of the request; required: false lets keyless requests through', async () => {
    const { send, runs } = setup(
      {},
      { key: (ctx) => ctx.headers['x-request-ref'], required: false },
    );
    expect(status(await send({ headers: { 'x-request-ref': 'r1' } }))).toBe('execute');
    expect(status(await send({ headers: { 'x-request-ref': 'r1' } }))).toBe('201 replay');
    expect(status(await send({}))).toBe('pass');
    expect(runs()).toBe(1);
  });
});

describe('route options: key formats', () => {
  it.each([
    ['uuid', 'uuid' as const, '7d444840-9dc0-11d1-b245-5ffdce74fad2', 'not-a-uuid'],
    ['minLength', { minLength: 16 }, 'abcdefghijklmnop', 'short'],
    ['RegExp', /^pay_[a-z0-9]+$/, 'pay_123', 'PAY-123'],
    ['function', (key: string) => key.startsWith('k-'), 'k-1', 'x-1'],
  ])(
    '%s: good keys run, others get 400 key-invalid saying why',
    async (_name, keyFormat, good, bad) => {
      const { send } = setup({ keyFormat });
      expect(status(await send({ headers: { 'idempotency-key': good } }))).toBe('execute');
      const refused = await send({ headers: { 'idempotency-key': bad } });
      expect(problemType(refused)).toBe('urn:idem:problem:key-invalid');
    },
  );
});

describe('route options: fingerprints', () => {
  it('omit: JSON members that change between retries do not count; the rest still does', async () => {
    const { send, runs } = setup({ fingerprint: { omit: ['/sentAt', '/meta/trace'] } });
    const key = { 'idempotency-key': 'k' };
    const body = (amount: number, sentAt: string, trace: string) =>
      JSON.stringify({ amount, sentAt, meta: { trace, v: 1 } });
    expect(status(await send({ headers: key, body: body(5, 'a', 't1') }))).toBe('execute');
    expect(status(await send({ headers: key, body: body(5, 'b', 't2') }))).toBe('201 replay');
    expect(status(await send({ headers: key, body: body(6, 'a', 't1') }))).toBe('422');
    expect(runs()).toBe(1);
  });

  it('headers: a chosen header counts', async () => {
    const { send } = setup({ fingerprint: { headers: ['x-api-version'] } });
    const headers = (v?: string) => ({
      'idempotency-key': 'k',
      ...(v ? { 'x-api-version': v } : {}),
    });
    expect(status(await send({ headers: headers('2024-01') }))).toBe('execute');
    expect(status(await send({ headers: headers('2024-01') }))).toBe('201 replay');
    expect(status(await send({ headers: headers('2025-01') }))).toBe('422');
    expect(status(await send({ headers: headers() }))).toBe('422');
  });

  it('false: the key alone; any request with it replays', async () => {
    const { send } = setup({ fingerprint: false });
    expect(status(await send({ headers: { 'idempotency-key': 'k' }, body: '{"a":1}' }))).toBe(
      'execute',
    );
    expect(
      status(await send({ headers: { 'idempotency-key': 'k' }, path: '/other', body: '{"a":2}' })),
    ).toBe('201 replay');
  });

  it('a function: your own notion of the same request', async () => {
    const { send } = setup({
      fingerprint: (_ctx, request) => JSON.parse(new TextDecoder().decode(request.body)).orderId,
    });
    const key = { 'idempotency-key': 'k' };
    expect(status(await send({ headers: key, body: '{"orderId":"o1","n":1}' }))).toBe('execute');
    expect(status(await send({ headers: key, body: '{"orderId":"o1","n":2}' }))).toBe('201 replay');
    expect(status(await send({ headers: key, body: '{"orderId":"o2"}' }))).toBe('422');
  });

  it('omitted pointers never make two different documents equal (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), async (kept, other) => {
        fc.pre(JSON.stringify(kept) !== JSON.stringify(other));
        const { send } = setup({ fingerprint: { omit: ['/dropped'] } });
        const key = { 'idempotency-key': 'k' };
        await send({ headers: key, body: JSON.stringify({ kept, dropped: 1 }) });
        const again = await send({ headers: key, body: JSON.stringify({ kept, dropped: 2 }) });
        expect(status(again)).toBe('201 replay');
        const differs = await send({
          headers: key,
          body: JSON.stringify({ kept: other, dropped: 1 }),
        });
        // Different values of a kept member are different requests, unless they are one JSON value.
        const same =
          JSON.stringify(JSON.parse(JSON.stringify(kept))) ===
          JSON.stringify(JSON.parse(JSON.stringify(other)));
        expect(status(differs)).toBe(same ? '201 replay' : '422');
      }),
      fcOptions(60),
    );
  });
});

describe('route options: time, skipping, replayed headers, documentation', () => {
  it('ttlMs and leaseMs as values or functions of the request', async () => {
    const { send, store } = setup({
      ttlMs: (ctx) => (ctx.headers['x-plan'] === 'short' ? 60_000 : 120_000),
      leaseMs: 5_000,
    });
    const before = Date.now();
    await send({ headers: { 'idempotency-key': 'a', 'x-plan': 'short' } });
    await send({ headers: { 'idempotency-key': 'b' } });
    const [a, b] = [...store.records.values()] as Array<{ expiresAt: number }>;
    expect(a!.expiresAt - before).toBeGreaterThanOrEqual(60_000);
    expect(a!.expiresAt - before).toBeLessThan(61_000);
    expect(b!.expiresAt - before).toBeGreaterThanOrEqual(120_000);
    expect(b!.expiresAt - before).toBeLessThan(121_000);
  });

  it("leaseMs as a function of a route's request: that lease blocks duplicates, the mount's holds elsewhere", async () => {
    let clock = 1_700_000_000_000;
    const store = testStore({ now: () => clock });
    const http = createHttpIdempotency<Ctx>({
      store,
      scope: () => 't',
      logger: false,
      leaseMs: 60_000,
    });
    const seen: Array<string | undefined> = [];
    const route = http.route({
      leaseMs: (ctx) => {
        seen.push(ctx.headers['x-job']);
        return ctx.headers['x-job'] === 'export' ? 5_000 : 20_000;
      },
    });
    const held: HttpDecision[] = [];
    const begin = async (headers: Record<string, string>, on?: HttpRoute<Ctx>) => {
      const { ctx, http: req } = request({ headers });
      const decision = await http.handle(req, ctx, undefined, on);
      held.push(decision);
      return decision;
    };
    const exportJob = { 'idempotency-key': 'e', 'x-job': 'export' };
    const otherJob = { 'idempotency-key': 'o', 'x-job': 'import' };
    const mountJob = { 'idempotency-key': 'm', 'x-job': 'export' };
    const first = [await begin(exportJob, route), await begin(otherJob, route)];
    first.push(await begin(mountJob));
    expect(first.map(status)).toEqual(['execute', 'execute', 'execute']);
    expect(seen).toEqual(['export', 'import']);
    const leases = [...store.records.values()].map((r) =>
      r.state === 'in_progress' ? r.leaseExpiresAt - clock : undefined,
    );
    expect(leases).toEqual([5_000, 20_000, 60_000]);

    // In flight: every duplicate is refused, with the engine's Retry-After.
    for (const [headers, on] of [
      [exportJob, route],
      [otherJob, route],
      [mountJob, undefined],
    ] as const) {
      const duplicate = await begin(headers, on);
      expect(status(duplicate)).toBe('409');
      expect(duplicate.kind === 'respond' && duplicate.response.headers).toContainEqual([
        'retry-after',
        '1',
      ]);
    }
    // Past the export's own lease, and only its: a duplicate in another
    // process takes the key over (this one's own defer to its executions).
    const elsewhere = createHttpIdempotency<Ctx>({
      store,
      scope: () => 't',
      logger: false,
      leaseMs: 60_000,
    });
    const otherRoute = elsewhere.route({
      leaseMs: (ctx) => (ctx.headers['x-job'] === 'export' ? 5_000 : 20_000),
    });
    const beginElsewhere = async (headers: Record<string, string>, on?: HttpRoute<Ctx>) => {
      const { ctx, http: req } = request({ headers });
      const decision = await elsewhere.handle(req, ctx, undefined, on);
      held.push(decision);
      return decision;
    };
    clock += 5_000;
    expect(status(await beginElsewhere(exportJob, otherRoute))).toBe('execute');
    expect(status(await beginElsewhere(otherJob, otherRoute))).toBe('409');
    expect(status(await beginElsewhere(mountJob))).toBe('409');
    clock += 15_000;
    expect(status(await beginElsewhere(otherJob, otherRoute))).toBe('execute');
    expect(status(await beginElsewhere(mountJob))).toBe('409');
    for (const decision of held) if (decision.kind === 'execute') await decision.release();
  });

  it('skip lets chosen requests through untouched', async () => {
    const { send } = setup({ skip: (ctx) => ctx.headers['x-internal'] === '1' });
    expect(status(await send({ headers: { 'x-internal': '1' } }))).toBe('pass');
    expect(status(await send({}))).toBe('400');
  });

  it('replayHeaders: only the named headers are stored and replayed', async () => {
    const { send } = setup({ replayHeaders: ['content-type', 'location'] });
    const key = { 'idempotency-key': 'k' };
    await send({ headers: key }, [
      ['location', '/payments/1'],
      ['x-trace', 'abc'],
    ]);
    const replay = await send({ headers: key });
    expect(replay.kind === 'respond' && replay.response.headers).toEqual([
      ['content-type', 'application/json'],
      ['location', '/payments/1'],
      ['idempotent-replayed', 'true'],
    ]);
  });

  it('documentationUrl: 400 and 422 problems link to it, as the IETF draft suggests', async () => {
    const { send } = setup({ documentationUrl: 'https://example.com/docs/idempotency' });
    const link = (d: HttpDecision) =>
      d.kind === 'respond' ? d.response.headers.find(([n]) => n === 'link')?.[1] : undefined;
    expect(link(await send({}))).toBe('<https://example.com/docs/idempotency>; rel="describedby"');
    await send({ headers: { 'idempotency-key': 'k' }, body: '{"a":1}' });
    const mismatch = await send({ headers: { 'idempotency-key': 'k' }, body: '{"a":2}' });
    expect(status(mismatch)).toBe('422');
    expect(link(mismatch)).toBe('<https://example.com/docs/idempotency>; rel="describedby"');
  });
});

describe('route overrides', () => {
  it('merge over the mount: what a route leaves out comes from the mount', async () => {
    const store = testStore();
    const http = createHttpIdempotency<Ctx>({
      store,
      scope: (ctx) => ctx.headers['x-tenant'] ?? 'anon',
      methods: ['POST'],
      mismatchStatus: 400,
      logger: false,
    });
    const route = http.route({ key: 'x-delivery' });
    // Opaque to adapters; core's own test looks inside.
    const inside = route as unknown as ResolvedRoute<Ctx>;
    expect(inside.methods).toEqual(new Set(['POST']));
    expect(inside.mismatchStatus).toBe(400);
    const { ctx, http: req } = request({ headers: { 'x-delivery': 'd', 'x-tenant': 'acme' } });
    const decision = await http.handle(req, ctx, undefined, route);
    expect(decision.kind).toBe('execute');
  });

  it('refuse bad options when the route is declared, naming the route and the fix', () => {
    const { http } = setup();
    const bad: Array<[RouteOptions<Ctx>, RegExp]> = [
      [{ key: { body: 'id' } }, /option "key.body" must be a JSON Pointer/],
      [{ key: 'bad header' }, /option "key" must be a header name/],
      [{ key: 42 as never }, /option "key" must be a header name/],
      [{ key: { headers: [] } }, /option "key" must be a list of one header name or more/],
      [{ key: { headers: 'x-a' as never } }, /option "key.headers" must be a list of header names/],
      [{ key: { headers: ['x-a', 'bad header'] } }, /option "key" must be a header name/],
      [{ keyFormat: { minLength: 0 } }, /option "keyFormat" must be/],
      [{ fingerprint: { omit: ['x'] } }, /option "fingerprint.omit\[0\]" must be a JSON Pointer/],
      [
        { ttlMs: -1 },
        /option "ttlMs" must be a positive, finite number of milliseconds, or a function/,
      ],
      [{ documentationUrl: 'docs' }, /option "documentationUrl" must be an http/],
      [{ methods: 'POST' as never }, /option "methods" must be a list/],
      [{ skip: true as never }, /option "skip" must be a function/],
      [{ required: 'yes' as never }, /option "required" must be true or false, got "yes"/],
      // A misspelt name, or an option of the whole middleware, is never ignored.
      [
        { keyFromat: 'uuid' } as never,
        /unknown option "keyFromat" \(did you mean "keyFormat"\?\); the options are scope, key/,
      ],
      [{ ttlMS: 1_000 } as never, /unknown option "ttlMS" \(did you mean "ttlMs"\?\)/],
      [{ concurrent: 'wait' } as never, /concurrent applies to the whole middleware/],
      [{ store: {} } as never, /store applies to the whole middleware/],
      // Times that cannot work together fail here, not as a 500 on every request.
      [{ ttlMs: 10_000 }, /option "ttlMs" \(10000\) must be at least leaseMs \(30000\)/],
      [
        { ttlMs: 60_000, leaseMs: 90_000 },
        /option "ttlMs" \(60000\) must be at least leaseMs \(90000\)/,
      ],
    ];
    for (const [options, message] of bad) {
      let error: unknown;
      try {
        http.route(options, 'POST /webhooks');
      } catch (e) {
        error = e;
      }
      expect(error, String(message)).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/^idem: POST \/webhooks: /);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe('webhook presets', () => {
  it('stripe: the event id is the key, pending_webhooks does not count, another event with a reused id is refused', async () => {
    const { send, runs } = setup({}, webhooks.stripe as RouteOptions<Ctx>);
    const event = (pending: number, amount = 100) =>
      JSON.stringify({
        id: 'evt_1',
        object: 'event',
        type: 'charge.succeeded',
        pending_webhooks: pending,
        data: { object: { amount } },
      });
    expect(status(await send({ body: event(2) }))).toBe('execute');
    expect(status(await send({ body: event(1) }))).toBe('201 replay');
    expect(status(await send({ body: event(1, 200) }))).toBe('422');
    expect(runs()).toBe(1);
  });
});

describe('problems name where the route takes its key from', () => {
  it.each([
    [{}, /in the Idempotency-Key header/],
    [{ key: 'x-github-delivery' }, /in the x-github-delivery header/],
    [{ key: ['webhook-id', 'svix-id'] }, /in the webhook-id or svix-id header/],
    [webhooks.github, /in the x-github-hook-id and x-github-delivery headers/],
    [{ key: { body: '/id' } }, /in the body at \/id/],
  ] as Array<[RouteOptions<Ctx>, RegExp]>)('%j', async (route, place) => {
    const { send } = setup({}, route);
    const reply = await send({ body: '{}' });
    expect(problemType(reply)).toBe('urn:idem:problem:key-missing');
    const detail =
      reply.kind === 'respond' && JSON.parse(new TextDecoder().decode(reply.response.body)).detail;
    expect(detail).toMatch(place);
  });

  it('webhook presets keep results as long as their providers redeliver', () => {
    expect(webhooks.stripe.ttlMs).toBe(4 * 86_400_000);
    expect(webhooks.github.ttlMs).toBe(4 * 86_400_000);
    expect(webhooks.shopify.ttlMs).toBe(3 * 86_400_000);
    expect(webhooks.standardWebhooks.ttlMs).toBe(2 * 86_400_000);
  });
});

describe('the order of the checks, before the body', () => {
  const big = 'x'.repeat(111);
  const declared = (body: string) => ({ 'content-length': String(body.length) });
  const cases: Array<[string, RouteOptions<Ctx>, Sent, string]> = [
    ['a method not covered', {}, { method: 'PUT' }, 'pass'],
    [
      'a skipped request',
      { skip: (ctx) => ctx.headers['x-skip'] === '1' },
      { headers: { 'x-skip': '1' } },
      'pass',
    ],
    ['no key, with required: false', { required: false }, {}, 'pass'],
    ['no key', {}, {}, 'respond 400'],
    ['a malformed key', {}, { headers: { 'idempotency-key': 'a b' } }, 'respond 400'],
    [
      'a key not of keyFormat',
      { keyFormat: 'uuid' },
      { headers: { 'idempotency-key': 'k' } },
      'respond 400',
    ],
    ['no key from a key function', { key: (ctx) => ctx.headers['x-event'] }, {}, 'respond 400'],
    [
      'one of the headers a key takes together missing',
      { key: { headers: ['x-shop', 'x-event'] } },
      { headers: { 'x-shop': 'north' } },
      'respond 400',
    ],
    ['a valid key', {}, { headers: { 'idempotency-key': 'k' } }, 'refuse 413'],
    ['a key in the body', { key: { body: '/id' } }, {}, 'refuse 413'],
  ];

  it.each(cases)(
    '%s, with a body declared over maxRequestBytes: beforeBody and handle give one answer',
    async (_what, options, sent, expected) => {
      const { http } = setup();
      const route = http.route({ maxRequestBytes: 10, ...options });
      const { ctx, http: req } = request({
        ...sent,
        body: big,
        headers: { ...sent.headers, ...declared(big) },
      });
      const before = await http.beforeBody(req, ctx, route);
      const answer =
        before.kind === 'pass'
          ? 'pass'
          : before.kind === 'read'
            ? 'read'
            : `${before.kind} ${before.response.status}`;
      expect(answer).toBe(expected);
      const handled = await http.handle(req, ctx, undefined, route);
      expect(status(handled)).toBe(expected === 'pass' ? 'pass' : expected.split(' ')[1]);
    },
  );

  it('a body within the limit is read, and handle goes on from the read decision without calling skip or the key function again', async () => {
    let skips = 0;
    let keys = 0;
    const { http } = setup();
    const route = http.route({
      skip: () => {
        skips++;
        return false;
      },
      key: (ctx) => {
        keys++;
        return ctx.headers['x-event'];
      },
    });
    const { ctx, http: req } = request({ headers: { 'x-event': 'e-1', ...declared('{}') } });
    const before = await http.beforeBody(req, ctx, route);
    expect(before).toMatchObject({ kind: 'read', limit: 1024 * 1024 });
    if (before.kind !== 'read') return;
    const decision = await http.handle(req, ctx, undefined, route, before);
    expect(decision.kind).toBe('execute');
    if (decision.kind === 'execute') await decision.release();
    expect({ skips, keys }).toEqual({ skips: 1, keys: 1 });
  });
});
