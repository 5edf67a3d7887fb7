import { fcParameters } from '@idem/conformance';
import { isIdempotencyError } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claimOf, idempotency } from '../src/index.js';

/** The adapter's own translation, called directly: no server, the platform's Request and Response. */

const post = (key: string | undefined, body = '{"amount":1}', url = 'http://h/payments') =>
  new Request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body,
  });

describe('@idem/web', () => {
  it('hands core the path and query as sent, whatever they hold', async () => {
    const seen: Array<[string, string]> = [];
    const idem = idempotency({
      store: memoryStore(),
      scope: () => 't',
      fingerprint: (_request, parts) => {
        seen.push([parts.path, parts.query]);
        return 'same';
      },
    });
    const handler = idem(async (_request: Request) => new Response('ok'));
    const segment = fc.stringMatching(/^[A-Za-z0-9._~%-]{0,8}$/);
    const query = fc.stringMatching(/^[A-Za-z0-9=&%._~/?-]{0,16}$/);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { maxLength: 4 }), query, async (segments, q) => {
        const url = `http://127.0.0.1:8080/${segments.join('/')}${q ? `?${q}` : ''}`;
        const parsed = new URL(url);
        seen.length = 0;
        await handler(post(`k-${++n}`, '{}', url));
        expect(seen).toEqual([[parsed.pathname, parsed.search.slice(1)]]);
      }),
      fcParameters(100),
    );
  });

  it('runs once per key, the handler reading the body it was sent; retries replay', async () => {
    let runs = 0;
    const idem = idempotency({ store: memoryStore(), scope: () => 't' });
    const handler = idem(async (request: Request) => {
      runs++;
      const order = (await request.json()) as { amount: number };
      return Response.json(
        { run: runs, amount: order.amount, claimed: claimOf(request) !== undefined },
        { status: 201 },
      );
    });
    const first = await handler(post('k1', '{"amount":42}'));
    const again = await handler(post('k1', '{"amount":42}'));
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ run: 1, amount: 42, claimed: true });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ run: 1, amount: 42, claimed: true });
    expect(runs).toBe(1);
  });

  it('passes through what it does not cover, without a claim', async () => {
    const idem = idempotency({ store: memoryStore(), scope: () => 't' });
    const handler = idem(async (request: Request) =>
      Response.json({ claim: claimOf(request) ?? null }),
    );
    const got = await handler(new Request('http://h/x'));
    expect(await got.json()).toEqual({ claim: null });
  });

  it('releases the key when the handler throws or answers no Response, so the retry runs again', async () => {
    let runs = 0;
    const idem = idempotency({ store: memoryStore(), scope: () => 't' });
    const throwing = idem(async (_request: Request) => {
      runs++;
      if (runs === 1) throw new Error('boom');
      return new Response('ok', { status: 201 });
    });
    await expect(throwing(post('k2'))).rejects.toThrow('boom');
    expect((await throwing(post('k2'))).status).toBe(201);
    const noResponse = idem((async () => ({ ok: true })) as unknown as (
      request: Request,
    ) => Promise<Response>);
    const error = await noResponse(post('k3')).catch((e: unknown) => e);
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    expect(String(error)).toMatch(/not a Response/);
    expect(runs).toBe(2);
  });

  it('refuses a body already read before it, naming the fix, without running the handler', async () => {
    let runs = 0;
    const idem = idempotency({ store: memoryStore(), scope: () => 't' });
    const handler = idem(async (_request: Request) => {
      runs++;
      return new Response('ok');
    });
    const request = post('k4');
    await request.text();
    const error = await handler(request).catch((e: unknown) => e);
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    expect(String(error)).toMatch(/clone/);
    expect(runs).toBe(0);
  });

  it('refuses to wrap a request twice: a route takes idem.route(), not both', async () => {
    const idem = idempotency({ store: memoryStore(), scope: () => 't' });
    const inner = idem.route({ ttlMs: 60_000 })(async (_request: Request) => new Response('ok'));
    const outer = idem(inner);
    const error = await outer(post('k5')).catch((e: unknown) => e);
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
  });

  it("hands background work to the waitUntil of the platform's arguments, or to the option's", async () => {
    const handed: Array<Promise<unknown>> = [];
    // A store whose first completion fails: the engine retries it in the background.
    const store = memoryStore();
    let failed = false;
    const flaky = {
      ...store,
      claim: store.claim.bind(store),
      read: store.read.bind(store),
      release: store.release.bind(store),
      renew: store.renew.bind(store),
      complete: (...args: Parameters<typeof store.complete>) => {
        if (!failed) {
          failed = true;
          return Promise.reject(new Error('blip'));
        }
        return store.complete(...args);
      },
    };
    const idem = idempotency({ store: flaky, scope: () => 't', logger: false });
    const handler = idem(
      async (_request: Request, _env: unknown, _ctx: unknown) =>
        new Response('ok', { status: 201 }),
    );
    const ctx = { waitUntil: (p: Promise<unknown>) => handed.push(p) };
    const response = await handler(post('k6'), {}, ctx);
    expect(response.status).toBe(201);
    expect(handed.length).toBeGreaterThan(0);
    await Promise.all(handed);
    const option = idempotency({
      store: memoryStore(),
      scope: () => 't',
      waitUntil: () => undefined,
    });
    expect((await option(async (_request: Request) => new Response('ok'))(post('k7'))).status).toBe(
      200,
    );
  });

  it('refuses a misspelt option when it is made, naming the one meant', () => {
    expect(() => idempotency({ store: memoryStore(), scop: () => 't' } as never)).toThrow(/scope/);
  });
});
