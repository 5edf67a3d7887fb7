import { fcParameters } from '@idem/conformance';
import { createIdempotency, isIdempotencyError } from '@idem/core';
import { memoryStore } from '@idem/store-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIdempotencyKeyError, makeIdempotent } from '../src/index.js';
import { invocationContext } from './http/gateway.js';

const escapeToken = (token: string) => token.replaceAll('~', '~0').replaceAll('/', '~1');

/** The error a call rejects with, or a failure when it resolves. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to reject');
}

describe('JSON Pointer keys (RFC 6901)', () => {
  // Names with `/` and `~` in them, and array indexes, on the way to the key.
  const name = fc.string({
    unit: fc.constantFrom('a', 'b', '/', '~', '0', '1', ' '),
    maxLength: 5,
  });
  const path = fc.array(fc.oneof(name, fc.nat({ max: 3 })), { minLength: 1, maxLength: 4 });
  const build = (tokens: Array<string | number>, leaf: unknown): unknown =>
    tokens.reduceRight<unknown>((inner, token) => {
      if (typeof token === 'number') {
        const array: unknown[] = Array.from({ length: token + 1 }, () => 'other');
        array[token] = inner;
        return array;
      }
      return { other: 'x', [token]: inner };
    }, leaf);
  const pointerOf = (tokens: Array<string | number>) =>
    tokens.map((t) => `/${escapeToken(String(t))}`).join('');
  const store = memoryStore();

  it('finds the string or number at the pointer, ~0 and ~1 unescaped', async () => {
    await fc.assert(
      fc.asyncProperty(
        path,
        fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.integer()),
        async (tokens, leaf) => {
          const pointer = pointerOf(tokens);
          const scope = `${pointer}:${leaf}`;
          // The pointer's key, then the key it must have read, given as a function: one record.
          const byPointer = makeIdempotent(async (_event: unknown) => 'by pointer', {
            store,
            key: pointer,
            payload: () => null,
            scope,
          });
          const byFunction = makeIdempotent(async () => 'by function', {
            store,
            key: () => String(leaf),
            payload: () => null,
            scope,
          });
          expect(await byPointer(build(tokens, leaf))).toBe('by pointer');
          expect(await byFunction()).toBe('by pointer');
        },
      ),
      fcParameters(50),
    );
  });

  it('a missing path or a value that is no key is a typed error naming the pointer, and nothing runs', async () => {
    await fc.assert(
      fc.asyncProperty(
        path,
        fc.constantFrom<unknown>(undefined, null, '', true, {}, [], 2 ** 60),
        async (tokens, leaf) => {
          const pointer = pointerOf(tokens);
          let runs = 0;
          const fn = makeIdempotent(async (_event: unknown) => ++runs, { store, key: pointer });
          const error = await failure(fn(build(tokens, leaf)));
          expect(isIdempotencyKeyError(error)).toBe(true);
          expect(error).toMatchObject({
            code: leaf === undefined || leaf === null ? 'KEY_MISSING' : 'KEY_INVALID',
            pointer,
          });
          expect(String((error as Error).message)).toContain(JSON.stringify(pointer));
          expect(String((error as Error).message)).not.toContain('undefined');
          expect(runs).toBe(0);
        },
      ),
      fcParameters(50),
    );
  });

  it('refuses what is not a pointer when the function is made', () => {
    for (const key of ['id', '/a~2', '/a~', 42, null]) {
      let error: unknown;
      try {
        makeIdempotent(async () => 1, { store, key: key as string });
      } catch (e) {
        error = e;
      }
      expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    }
  });
});

describe('makeIdempotent', () => {
  it('runs once per key, replays the result, refuses another payload under the key', async () => {
    let runs = 0;
    const charge = makeIdempotent(
      async (event: { orderId: string; amount: number }) => ({
        charged: event.amount,
        run: ++runs,
      }),
      { store: memoryStore(), key: '/orderId', scope: 'charges' },
    );
    expect(await charge({ orderId: 'o-1', amount: 5 })).toEqual({ charged: 5, run: 1 });
    expect(await charge({ orderId: 'o-1', amount: 5 })).toEqual({ charged: 5, run: 1 });
    const mismatch = await failure(charge({ orderId: 'o-1', amount: 6 }));
    expect(isIdempotencyError(mismatch, 'FINGERPRINT_MISMATCH')).toBe(true);
    expect(runs).toBe(1);
  });

  it('a thrown error releases the key: the retry runs again', async () => {
    let runs = 0;
    const flaky = makeIdempotent(
      async (_event: { id: number }) => {
        if (++runs === 1) throw new Error('boom');
        return runs;
      },
      { store: memoryStore(), key: '/id' },
    );
    expect(await failure(flaky({ id: 1 }))).toMatchObject({ message: 'boom' });
    expect(await flaky({ id: 1 })).toBe(2);
  });

  it('takes a key function and payload function, and shares an engine', async () => {
    const idem = createIdempotency({ store: memoryStore() });
    let runs = 0;
    const send = makeIdempotent(
      async (to: string, body: { text: string; at: number }) => `${to}:${body.text}:${++runs}`,
      { idem, key: (to, body) => `${to}-${body.text}`, payload: (to, body) => [to, body.text] },
    );
    // `at` is left out of the payload: a retry with a new timestamp is the same call.
    expect(await send('ann', { text: 'hi', at: 1 })).toBe('ann:hi:1');
    expect(await send('ann', { text: 'hi', at: 2 })).toBe('ann:hi:1');
    let error: unknown;
    try {
      makeIdempotent(async () => 1, { idem, key: '/id', store: memoryStore() } as never);
    } catch (e) {
      error = e;
    }
    expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
    expect(String(error)).toMatch(/not both/);
  });

  it("the lease ends at the invocation's deadline plus the margin: the next call takes over then, not a lease later", async () => {
    const store = memoryStore();
    const options = { store, key: '/id', leaseMs: 10_000, leaseMarginMs: 200 } as const;
    const hung = new Promise<never>(() => {});
    // Two engines on one store: the timed-out invocation and the next delivery's.
    const first = makeIdempotent(async (_e: { id: string }, _c: unknown) => hung, options);
    const next = makeIdempotent(async (_e: { id: string }, _c: unknown) => 'taken over', options);
    const started = Date.now();
    void first({ id: 'capped' }, invocationContext(300)).catch(() => {});
    void first({ id: 'uncapped' }, {}).catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    const early = await failure(next({ id: 'capped' }, invocationContext(5_000)));
    expect(isIdempotencyError(early, 'REQUEST_IN_FLIGHT')).toBe(true);
    // Deadline 300 ms + margin 200 ms, and a little for the timers.
    await new Promise((r) => setTimeout(r, 650 - (Date.now() - started)));
    expect(await next({ id: 'capped' }, invocationContext(5_000))).toBe('taken over');
    // Without a Lambda context among the arguments, the 10 s lease holds (and is renewed).
    const uncapped = await failure(next({ id: 'uncapped' }, invocationContext(5_000)));
    expect(isIdempotencyError(uncapped, 'REQUEST_IN_FLIGHT')).toBe(true);
  });
});
