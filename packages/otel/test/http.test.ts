import { createHash } from 'node:crypto';
import { scopedKey } from '@idem/core/store';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { idemTelemetry } from '../src/index.js';
import {
  breakableStore,
  childrenOf,
  eventually,
  requestSpans,
  sdk,
  total,
  withContextManager,
} from './harness.js';
import { ADAPTERS, REQUEST_HEADER, type Running } from './servers.js';

withContextManager();

const running: Running[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
});

const SCOPE_HASH = createHash('sha256').update('acme', 'utf8').digest('base64url').slice(0, 22);

describe.each(ADAPTERS)('$name', (adapter) => {
  async function start() {
    const otel = sdk();
    const broken = breakableStore();
    // /hold/:id runs until the test opens the gate; `entered` tells it has begun.
    let release!: () => void;
    let entered!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const server = await adapter.start({
      store: broken.store,
      hooks: idemTelemetry({
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
      }),
      tracer: otel.tracerProvider.getTracer('http-server'),
      held: () => {
        entered();
        return gate;
      },
    });
    running.push(server);
    const post = (request: string, path: string, key: string, body = '{"amount":1}') =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': key,
          [REQUEST_HEADER]: request,
        },
        body,
      });
    /** The server span of request `name`. */
    const serverSpan = (name: string): ReadableSpan => {
      const found = otel
        .spans()
        .filter((s) => s.kind === SpanKind.SERVER && s.attributes['test.request'] === name);
      expect(found, `server span of ${name}`).toHaveLength(1);
      return found[0]!;
    };
    /** The idem span of request `name`: a child of its server span, however many requests ran at once. */
    const idemOf = (name: string): ReadableSpan => {
      const found = requestSpans(childrenOf(serverSpan(name), otel.spans()));
      expect(found, `idem span of ${name}`).toHaveLength(1);
      return found[0]!;
    };
    return { otel, broken, post, serverSpan, idemOf, open: release, inside };
  }

  const route = (pattern: string) => (adapter.routes ? { 'http.route': pattern } : {});

  it("every outcome: one idem span under its request's server span, with exact attributes", async () => {
    const { otel, broken, post, idemOf, serverSpan, open, inside } = await start();
    expect((await post('first', '/payments/42', 'k1')).status).toBe(201);
    expect((await post('replay', '/payments/42', 'k1')).status).toBe(201);
    expect((await post('mismatch', '/payments/42', 'k1', '{"amount":2}')).status).toBe(422);
    const owner = post('owner', '/hold/7', 'k2');
    await inside; // the owner holds the key: its duplicates conflict
    const duplicates = await Promise.all([
      post('dup-1', '/hold/7', 'k2'),
      post('dup-2', '/hold/7', 'k2'),
    ]);
    expect(duplicates.map((r) => r.status)).toEqual([409, 409]);
    open();
    expect((await owner).status).toBe(200);
    expect((await post('fail', '/fail', 'k3')).status).toBe(500);
    expect((await post('big', '/big', 'k4')).status).toBe(200);
    expect((await post('big-retry', '/big', 'k4')).status).toBe(410);
    broken.failNext('claim', 1);
    expect((await post('down', '/payments/1', 'k5')).status).toBe(503);

    // Completions may land just after the response: wait for every span.
    await eventually(() => expect(requestSpans(otel.spans())).toHaveLength(10));

    const first = idemOf('first');
    expect(first.name).toBe('idem executed');
    expect(first.attributes).toEqual({
      'idem.outcome': 'executed',
      'idem.store_key': await scopedKey('acme', 'k1'),
      'idem.scope_hash': SCOPE_HASH,
      'http.request.method': 'POST',
      ...route('/payments/:id'),
      'url.path': '/payments/42',
      'idem.result.status': 201,
      'idem.renewals': 0,
      'idem.completion.attempts': 1,
    });
    expect(
      childrenOf(first, otel.spans())
        .map((s) => s.name)
        .sort(),
    ).toEqual(['idem claim', 'idem complete']);
    expect(idemOf('replay').attributes).toEqual({
      'idem.outcome': 'replayed',
      'idem.store_key': await scopedKey('acme', 'k1'),
      'idem.scope_hash': SCOPE_HASH,
      'http.request.method': 'POST',
      ...route('/payments/:id'),
      'url.path': '/payments/42',
      'idem.result.status': 201,
    });
    expect(idemOf('mismatch').attributes).toMatchObject({ 'idem.outcome': 'mismatch' });
    expect(idemOf('mismatch').attributes['idem.result.status']).toBeUndefined();
    expect(idemOf('owner').name).toBe('idem executed');
    for (const dup of ['dup-1', 'dup-2']) {
      expect(idemOf(dup).name).toBe('idem in_flight');
      expect(idemOf(dup).attributes).toMatchObject({
        'idem.store_key': await scopedKey('acme', 'k2'),
        ...route('/hold/:id'),
        'url.path': '/hold/7',
      });
    }
    const fail = idemOf('fail');
    expect(fail.name).toBe(`idem ${adapter.throwIs}`);
    if (adapter.throwIs === 'failed') {
      expect(fail.status.code).toBe(SpanStatusCode.ERROR);
    } else {
      expect(fail.attributes['idem.result.status']).toBe(500);
      expect(fail.status.code).toBe(SpanStatusCode.UNSET);
    }
    expect(idemOf('big').name).toBe('idem executed_not_stored');
    expect(idemOf('big').attributes).toMatchObject({ 'idem.result.status': 200, ...route('/big') });
    expect(idemOf('big-retry').name).toBe('idem response_not_stored');
    const down = idemOf('down');
    expect(down.name).toBe('idem store_unavailable');
    expect(down.status.code).toBe(SpanStatusCode.ERROR);
    // The failed claim, on the request's own span at the moment it failed.
    expect(serverSpan('down').events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'idem.store_error',
        { 'idem.store.operation': 'claim', 'idem.store_key': await scopedKey('acme', 'k5') },
      ],
    ]);
    for (const name of ['first', 'replay', 'owner', 'fail', 'big']) {
      expect(serverSpan(name).events).toEqual([]);
    }

    // The metrics: method and route, never the path, the key or the scope.
    const post_ = { 'http.request.method': 'POST' };
    expect(await otel.sums('idem.executions')).toEqual(
      adapter.routes
        ? [
            {
              attributes: { ...post_, 'http.route': '/payments/:id', 'idem.result.stored': true },
              value: 1,
            },
            {
              attributes: { ...post_, 'http.route': '/hold/:id', 'idem.result.stored': true },
              value: 1,
            },
            {
              attributes: { ...post_, 'http.route': '/big', 'idem.result.stored': false },
              value: 1,
            },
          ]
        : [
            { attributes: { ...post_, 'idem.result.stored': true }, value: 2 },
            { attributes: { ...post_, 'idem.result.stored': false }, value: 1 },
          ],
    );
    expect(await otel.sums('idem.replays')).toEqual([
      { attributes: { ...post_, ...route('/payments/:id'), 'idem.result.stored': true }, value: 1 },
      { attributes: { ...post_, ...route('/big'), 'idem.result.stored': false }, value: 1 },
    ]);
    expect(await otel.sums('idem.in_flight')).toEqual([
      { attributes: { ...post_, ...route('/hold/:id') }, value: 2 },
    ]);
    expect(await otel.sums('idem.mismatches')).toEqual([
      { attributes: { ...post_, ...route('/payments/:id') }, value: 1 },
    ]);
    expect(await otel.sums('idem.releases')).toEqual([
      {
        attributes: {
          ...post_,
          ...route('/fail'),
          'idem.release.reason': adapter.throwIs === 'failed' ? 'failed' : 'not_kept',
        },
        value: 1,
      },
    ]);
    expect(await otel.sums('idem.store.errors')).toEqual([
      { attributes: { 'idem.store.operation': 'claim', 'error.type': '_OTHER' }, value: 1 },
    ]);
    expect(total(await otel.sums('idem.active_requests'))).toBe(0);
    const outcomes: Record<string, number> = {};
    for (const p of await otel.histogram('idem.request.duration')) {
      const outcome = p.attributes['idem.outcome'] as string;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + p.count;
      expect(Object.keys(p.attributes).sort()).toEqual(
        ['http.request.method', 'idem.outcome', ...(adapter.routes ? ['http.route'] : [])].sort(),
      );
    }
    expect(outcomes).toEqual({
      executed: 2,
      replayed: 1,
      mismatch: 1,
      in_flight: 2,
      // The throw (Hono, Fastify), or Express's 500 for it, and /big.
      ...(adapter.throwIs === 'failed'
        ? { failed: 1, executed_not_stored: 1 }
        : { executed_not_stored: 2 }),
      response_not_stored: 1,
      store_unavailable: 1,
    });
  });

  it("a completion retried after the response went out: counted, and on the request's trace", async () => {
    const { otel, broken, post, idemOf, serverSpan } = await start();
    broken.failNext('complete', 1);
    expect((await post('slow-store', '/payments/9', 'r1')).status).toBe(201);
    await eventually(() => expect(requestSpans(otel.spans())).toHaveLength(1));
    const span = idemOf('slow-store');
    expect(span.attributes['idem.completion.attempts']).toBe(2);
    expect(span.parentSpanContext?.traceId).toBe(serverSpan('slow-store').spanContext().traceId);
    expect(await otel.sums('idem.completion.retries')).toEqual([
      { attributes: { 'http.request.method': 'POST', ...route('/payments/:id') }, value: 1 },
    ]);
    expect((await post('replay', '/payments/9', 'r1')).status).toBe(201);
  });
});
