import { afterEach, describe, expect, it } from 'vitest';
import {
  createIdempotentFetch,
  type IdempotentFetchError,
  idempotencyInfo,
  type RetryEvent,
} from '../src/index.js';
import { type Reply, type ScriptServer, scriptServer } from './script-server.js';

/**
 * When the client retries and when it does not, against a real HTTP server
 * that answers each request as the test scripts it.
 */

let server: ScriptServer | undefined;
afterEach(() => server?.close());

async function serve(answer: (n: number) => Reply) {
  server = await scriptServer((_request, n) => answer(n));
  return server;
}

/** A client with short waits, recording its retry events. */
function client(options: Parameters<typeof createIdempotentFetch>[0] = {}) {
  const events: RetryEvent[] = [];
  const fetch = createIdempotentFetch({
    baseDelayMs: 5,
    maxDelayMs: 20,
    onRetry: (event) => events.push(event),
    ...options,
  });
  return { fetch, events };
}

const post = (body = '{"amount":1999}') => ({ method: 'POST', body });
const keysOf = (s: ScriptServer) => s.received.map((r) => r.headers['idempotency-key']);

describe('statuses', () => {
  it.each([409, 425, 429, 500, 502, 503, 504])(
    'retries %i with the same key and body until a final answer',
    async (status) => {
      const s = await serve((n) => (n < 2 ? { status } : { status: 201, body: 'charged' }));
      const { fetch, events } = client();
      const response = await fetch(`${s.url}/payments`, post());
      expect(response.status).toBe(201);
      expect(await response.text()).toBe('charged');
      const info = idempotencyInfo(response)!;
      expect(info).toEqual({ key: expect.any(String), attempts: 3, replayed: false });
      expect(info.key).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(keysOf(s)).toEqual([info.key, info.key, info.key]);
      expect(s.received.map((r) => r.body.toString())).toEqual(Array(3).fill('{"amount":1999}'));
      expect(events.map((e) => [e.attempt, e.status, e.key])).toEqual([
        [1, status, info.key],
        [2, status, info.key],
      ]);
    },
  );

  it.each([400, 401, 403, 404, 410, 422, 402, 405, 408, 413, 415, 451, 499, 200, 201, 204, 302])(
    'returns %i at once, never retried',
    async (status) => {
      const s = await serve(() => ({ status, headers: { location: '/elsewhere' } }));
      const { fetch, events } = client({
        fetch: (input, init) => globalThis.fetch(input, { ...init, redirect: 'manual' }),
      });
      const response = await fetch(`${s.url}/payments`, post());
      expect(response.status).toBe(status);
      expect(idempotencyInfo(response)).toMatchObject({ attempts: 1, replayed: false });
      expect(s.received).toHaveLength(1);
      expect(events).toEqual([]);
    },
  );

  it('returns a replayed answer as final, whatever its status (a stored answer does not change)', async () => {
    const s = await serve(() => ({ status: 503, headers: { 'idempotent-replayed': 'true' } }));
    const { fetch } = client();
    const response = await fetch(s.url, post());
    expect(response.status).toBe(503);
    expect(idempotencyInfo(response)).toMatchObject({ attempts: 1, replayed: true });
  });

  it('after maxAttempts, returns the last transient answer as it is, with its count', async () => {
    const s = await serve(() => ({ status: 503, body: 'still down' }));
    const { fetch, events } = client({ maxAttempts: 4 });
    const response = await fetch(s.url, post());
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('still down');
    expect(idempotencyInfo(response)).toMatchObject({ attempts: 4 });
    expect(s.received).toHaveLength(4);
    expect(events).toHaveLength(3);
  });

  it('retryStatuses replaces the set of transient statuses', async () => {
    const s = await serve((n) => (n === 0 ? { status: 408 } : { status: 503 }));
    const { fetch } = client({ retryStatuses: [408] });
    const response = await fetch(s.url, post());
    expect(response.status).toBe(503);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });
});

describe('Retry-After', () => {
  it('waits as long as the server asks, in seconds', async () => {
    const s = await serve((n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 201 },
    );
    const { fetch, events } = client();
    const started = Date.now();
    const response = await fetch(s.url, post());
    expect(response.status).toBe(201);
    expect(events[0]?.delayMs).toBe(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('waits until an HTTP date', async () => {
    const at = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000);
    const s = await serve((n) =>
      n === 0 ? { status: 503, headers: { 'retry-after': at.toUTCString() } } : { status: 201 },
    );
    const { fetch, events } = client();
    expect((await fetch(s.url, post())).status).toBe(201);
    expect(events[0]!.delayMs).toBeGreaterThan(0);
    expect(events[0]!.delayMs).toBeLessThanOrEqual(2500);
    expect(Date.now()).toBeGreaterThanOrEqual(at.getTime() - 10);
  });

  it('cuts a long Retry-After to maxRetryAfterMs', async () => {
    const s = await serve((n) =>
      n === 0 ? { status: 503, headers: { 'retry-after': '3600' } } : { status: 201 },
    );
    const { fetch, events } = client({ maxRetryAfterMs: 50 });
    expect((await fetch(s.url, post())).status).toBe(201);
    expect(events[0]?.delayMs).toBe(50);
  });

  it('returns the answer at once when the wait would run past the deadline', async () => {
    const s = await serve(() => ({ status: 503, headers: { 'retry-after': '5' } }));
    const { fetch, events } = client({ deadlineMs: 2000 });
    const response = await fetch(s.url, post());
    expect(response.status).toBe(503);
    expect(idempotencyInfo(response)?.attempts).toBe(1);
    expect(events).toEqual([]);
  });

  it('backs off with full jitter when the server says nothing', async () => {
    const s = await serve((n) => (n < 5 ? { status: 500 } : { status: 201 }));
    const { fetch, events } = client({ baseDelayMs: 10, maxDelayMs: 40, maxAttempts: 6 });
    expect((await fetch(s.url, post())).status).toBe(201);
    const ceilings = [10, 20, 40, 40, 40];
    events.forEach((e, i) => {
      expect(e.delayMs).toBeGreaterThanOrEqual(0);
      expect(e.delayMs).toBeLessThan(ceilings[i]!);
    });
  });
});

describe('network failures and timeouts', () => {
  it('retries a connection closed before any answer', async () => {
    const s = await serve((n) => (n < 2 ? { destroy: true } : { status: 201, body: 'ok' }));
    const { fetch, events } = client();
    const response = await fetch(s.url, post());
    expect(await response.text()).toBe('ok');
    expect(idempotencyInfo(response)?.attempts).toBe(3);
    expect(new Set(keysOf(s)).size).toBe(1);
    expect(events.map((e) => e.status)).toEqual([undefined, undefined]);
    expect(events[0]?.error).toBeInstanceOf(TypeError);
  });

  it('retries a connection reset in the middle of the body (the caller never sees half a body)', async () => {
    const body = JSON.stringify({ id: 'ch_1', padding: 'x'.repeat(2000) });
    const s = await serve((n) =>
      n === 0 ? { status: 201, body, breakAfter: 100 } : { status: 201, body },
    );
    const { fetch } = client();
    const response = await fetch(s.url, post());
    expect(await response.text()).toBe(body);
    expect(idempotencyInfo(response)?.attempts).toBe(2);
  });

  it('with bufferResponses: false, resolves at the headers as fetch does', async () => {
    const body = 'y'.repeat(5000);
    const s = await serve(() => ({ status: 201, body, breakAfter: 100 }));
    const { fetch } = client({ bufferResponses: false });
    const response = await fetch(s.url, post());
    expect(idempotencyInfo(response)?.attempts).toBe(1);
    await expect(response.text()).rejects.toThrow();
  });

  it('never reads an event stream ahead, even with bufferResponses', async () => {
    const s = await serve(() => ({
      hangMs: 10,
      after: { status: 200, headers: { 'content-type': 'text/event-stream' }, body: 'data: 1\n\n' },
    }));
    const { fetch } = client();
    const response = await fetch(s.url, post());
    expect(await response.text()).toBe('data: 1\n\n');
  });

  it('abandons an attempt after attemptTimeoutMs and retries it with the same key', async () => {
    const s = await serve((n) =>
      n === 0 ? { hangMs: 10_000, after: { status: 201 } } : { status: 201, body: 'second' },
    );
    const { fetch, events } = client({ attemptTimeoutMs: 1000 });
    const response = await fetch(s.url, post());
    expect(await response.text()).toBe('second');
    expect(idempotencyInfo(response)?.attempts).toBe(2);
    expect((events[0]!.error as DOMException).name).toBe('TimeoutError');
    expect(new Set(keysOf(s)).size).toBe(1);
  });

  it('fails with ATTEMPTS_EXHAUSTED, naming the key to come back with, when no attempt got an answer', async () => {
    const s = await serve(() => ({ destroy: true }));
    const { fetch } = client({ maxAttempts: 3 });
    const error = (await fetch(s.url, post()).catch((e) => e)) as IdempotentFetchError;
    expect(error).toMatchObject({
      name: 'IdempotentFetchError',
      code: 'ATTEMPTS_EXHAUSTED',
      attempts: 3,
    });
    expect(error.key).toBe(keysOf(s)[0]);
    expect(error.message).toContain(error.key!);
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(s.received).toHaveLength(3);
  });

  it('fails with DEADLINE_EXCEEDED when the overall deadline runs out, attempts and waits included', async () => {
    const s = await serve(() => ({ hangMs: 5000 }));
    const { fetch } = client({ attemptTimeoutMs: 200, deadlineMs: 700, maxAttempts: 100 });
    const started = Date.now();
    const error = (await fetch(s.url, post()).catch((e) => e)) as IdempotentFetchError;
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.attempts).toBeGreaterThanOrEqual(1);
    expect(error.key).toBe(keysOf(s)[0]);
    expect(Date.now() - started).toBeLessThan(4500); // the server would hang for 5 s
  });
});

describe("the caller's AbortSignal", () => {
  it('stops an attempt in flight at once, with the signal’s reason, and sends nothing more', async () => {
    const s = await serve(() => ({ hangMs: 5000 }));
    const { fetch } = client();
    const controller = new AbortController();
    const reason = new Error('user left');
    setTimeout(() => controller.abort(reason), 100);
    const started = Date.now();
    await expect(fetch(s.url, { ...post(), signal: controller.signal })).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(4500); // the server would hang for 5 s
    await new Promise((r) => setTimeout(r, 100));
    expect(s.received).toHaveLength(1);
  });

  it('stops the wait between attempts at once', async () => {
    const s = await serve(() => ({ status: 503, headers: { 'retry-after': '10' } }));
    const { fetch } = client();
    const signal = AbortSignal.timeout(200);
    const started = Date.now();
    await expect(fetch(s.url, { ...post(), signal })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    expect(Date.now() - started).toBeLessThan(8000); // Retry-After asked for 10 s
    expect(s.received).toHaveLength(1);
  });

  it('sends nothing when already aborted', async () => {
    const s = await serve(() => ({ status: 201 }));
    const { fetch } = client();
    await expect(
      fetch(s.url, { ...post(), signal: AbortSignal.abort(new Error('no')) }),
    ).rejects.toThrow('no');
    expect(s.received).toHaveLength(0);
  });

  it('is read from a Request input too', async () => {
    const s = await serve(() => ({ hangMs: 5000 }));
    const { fetch } = client();
    const controller = new AbortController();
    const request = new Request(s.url, { ...post(), signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 100);
    await expect(fetch(request)).rejects.toThrow('stop');
  });
});
