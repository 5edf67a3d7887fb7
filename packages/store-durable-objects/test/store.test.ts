import { type ClaimRequest, ConfigurationError, scopedKey } from '@idem/core/store';
import { idempotency } from '@idem/hono';
import { largeBodyAnswer } from '@idem/test-workerd';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type DurableObjectNamespaceLike,
  durableObjectStore,
  IdempotencyObject,
  type Operation,
} from '../src/index.js';
import { startObjects } from './miniflare.js';

const objects = await startObjects();
const store = durableObjectStore({ namespace: objects.namespace });
const run = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}`;
let keys = 0;
const freshKey = () => scopedKey(`store-test:${run}`, String(keys++));
const claim = (fingerprint = 'fp', leaseMs = 30_000): ClaimRequest => ({
  fingerprint,
  token: crypto.randomUUID(),
  leaseMs,
});
const response = (body: Uint8Array, headers: Array<readonly [string, string]> = []) => ({
  status: 201,
  headers,
  body,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The namespace with every call to an object (one RPC each) recorded. */
function counted(namespace: DurableObjectNamespaceLike) {
  const calls: string[] = [];
  const wrapped: DurableObjectNamespaceLike = {
    idFromName: (name) => namespace.idFromName(name),
    get(id) {
      const stub = namespace.get(id) as { perform(operation: Operation): Promise<unknown> };
      return {
        perform(operation: Operation) {
          calls.push(operation.type);
          return stub.perform(operation);
        },
      };
    },
  };
  return { calls, namespace: wrapped };
}

afterAll(() => objects.dispose());

describe('options and setup', () => {
  it('names the fix for a missing namespace or a bad clock', () => {
    expect(() => durableObjectStore({ namespace: undefined as never })).toThrow(
      /^idem: durableObjectStore\(\): option "namespace" must be the Durable Object namespace binding, such as env\.IDEMPOTENCY, .*, got undefined\.$/,
    );
    expect(() => durableObjectStore(undefined as never)).toThrow(ConfigurationError);
    // Names first: `namspace` is a typo, not a missing namespace.
    expect(() => durableObjectStore({ namspace: objects.namespace } as never)).toThrow(
      'idem: durableObjectStore(): unknown option "namspace" (did you mean "namespace"?); the options are namespace, now.',
    );
    expect(() => durableObjectStore({ namespace: objects.namespace, now: 1 as never })).toThrow(
      'idem: durableObjectStore(): option "now" must be a function returning epoch milliseconds, such as Date.now, got 1.',
    );
  });

  it('refuses to construct the object class outside workerd, naming the export condition', () => {
    expect(() => new IdempotencyObject({} as never, {})).toThrow(ConfigurationError);
    expect(() => new IdempotencyObject({} as never, {})).toThrow(/workerd export condition/);
  });

  it('a namespace bound to another class answers ConfigurationError, with the RPC error as cause', async () => {
    const wrong = durableObjectStore({ namespace: objects.other });
    const error = await wrong.claim(await freshKey(), claim()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/export \{ IdempotencyObject \}/);
    expect((error as Error).cause).toBeDefined();
  });

  it('an object class without SQLite storage answers ConfigurationError naming new_sqlite_classes', async () => {
    const kv = await startObjects({ sqlite: false });
    try {
      // Inside workerd, where the store meets the misdeclared class.
      const res = await kv.mf.dispatchFetch(`http://worker/claim/${await freshKey()}`, {
        method: 'POST',
      });
      const answer = (await res.json()) as { code?: string; message: string; cause?: string };
      expect(answer.code).toBe('CONFIGURATION');
      expect(answer.message).toMatch(/new_sqlite_classes/);
      expect(answer.cause).toMatch(/new_sqlite_classes/);
    } finally {
      await kv.dispose();
    }
  });

  it('a class bundled without the workerd export condition answers ConfigurationError naming it', async () => {
    const outside = await startObjects({ outsideWorkerd: true });
    try {
      const res = await outside.mf.dispatchFetch(`http://worker/claim/${await freshKey()}`, {
        method: 'POST',
      });
      const answer = (await res.json()) as { code?: string; message: string };
      expect(answer.code).toBe('CONFIGURATION');
      expect(answer.message).toMatch(/^IdempotencyObject was loaded .* workerd export condition/);
    } finally {
      await outside.dispose();
    }
  });
});

describe('one round trip per operation', () => {
  it('counts the calls to the key’s object', async () => {
    const { calls, namespace } = counted(objects.namespace);
    const s = durableObjectStore({ namespace });
    const key = await freshKey();
    const trip = async (call: () => Promise<unknown>) => {
      calls.length = 0;
      await call();
      return [...calls];
    };
    const owner = claim();
    expect(await trip(() => s.claim(key, owner))).toEqual(['claim']);
    expect(await trip(() => s.claim(key, claim()))).toEqual(['claim']); // refused
    expect(await trip(() => s.renew(key, owner.token, 30_000))).toEqual(['renew']);
    expect(await trip(() => s.read(key))).toEqual(['read']);
    const done = response(new Uint8Array([1, 2, 3]));
    expect(await trip(() => s.complete(key, owner.token, done, 60_000))).toEqual(['complete']);
    expect(await trip(() => s.claim(key, claim()))).toEqual(['claim']); // replay
    const other = await freshKey();
    const second = claim();
    await s.claim(other, second);
    expect(await trip(() => s.release(other, second.token))).toEqual(['release']);
    const huge = response(new Uint8Array(s.maxResponseBytes + 1));
    expect(await trip(() => s.complete(other, second.token, huge, 60_000).catch(() => {}))).toEqual(
      [],
    );
  });
});

describe('bodies up to the SQLite row limit', () => {
  it('keeps a body of maxResponseBytes byte-exact, also when it is a view into a larger buffer', async () => {
    // In workerd, beside the objects: see @idem/test-workerd's bodies.ts for why not from Node.
    const res = await objects.mf.dispatchFetch(`http://worker/bodies/${await freshKey()}`, {
      method: 'POST',
    });
    expect(await res.json()).toEqual(largeBodyAnswer(store.maxResponseBytes));
  }, 30_000);

  it('refuses a row over 2,000,000 bytes with RESPONSE_TOO_LARGE and keeps the lease', async () => {
    const key = await freshKey();
    const owner = claim();
    await store.claim(key, owner);
    const body = new Uint8Array(store.maxResponseBytes);
    const error = await store
      .complete(key, owner.token, response(body, [['x-big', 'h'.repeat(300_000)]]), 60_000)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE', limit: 2_000_000 });
    expect((await store.read(key))?.state).toBe('in_progress');
  });
});

describe('alarms', () => {
  const inspected = durableObjectStore({ namespace: objects.inspected });

  it('set the alarm to the deadline and delete the record (and the object’s storage) when it passes', async () => {
    const key = await freshKey();
    // A lease long enough that a busy machine reads the alarm before it fires.
    const lease = 2_000;
    const before = Date.now();
    await inspected.claim(key, claim('fp', lease));
    const object = objects.inspect(key);
    expect(await object.keys()).toEqual([key]);
    const alarm = await object.alarmAt();
    expect(alarm).toBeGreaterThanOrEqual(before + lease);
    expect(alarm).toBeLessThanOrEqual(Date.now() + lease + 50);
    for (let i = 0; i < 200 && (await object.keys()).length > 0; i++) await sleep(50);
    expect(await object.keys()).toEqual([]);
    expect(await object.alarmAt()).toBeNull();
    // The key is free again.
    expect((await inspected.claim(key, claim())).claimed).toBe(true);
  });

  it('move the alarm to the expiry on completion, and drop storage on release', async () => {
    const key = await freshKey();
    const owner = claim('fp', 60_000);
    await inspected.claim(key, owner);
    await inspected.complete(key, owner.token, response(new Uint8Array([1])), 3_600_000);
    const record = await inspected.read(key);
    expect(await objects.inspect(key).alarmAt()).toBe(
      record?.state === 'completed' ? record.expiresAt : -1,
    );
    const released = await freshKey();
    const other = claim();
    await inspected.claim(released, other);
    expect(await inspected.release(released, other.token)).toBe('ok');
    expect(await objects.inspect(released).keys()).toEqual([]);
    expect(await objects.inspect(released).alarmAt()).toBeNull();
  });

  it('leave an hour of grace to records judged by an injected clock', async () => {
    let fake = Date.now() + 10 * 60_000; // ten minutes ahead of the objects' clock
    const skewed = durableObjectStore({ namespace: objects.inspected, now: () => fake });
    const key = await freshKey();
    await skewed.claim(key, claim('fp', 1_000));
    const alarm = (await objects.inspect(key).alarmAt())!;
    // By the object's clock: the lease's 1 s from now, plus the grace.
    expect(alarm - Date.now()).toBeGreaterThan(3_600_000);
    expect(alarm - Date.now()).toBeLessThanOrEqual(3_601_000);
    fake += 2_000;
    expect(await skewed.read(key)).toBeUndefined(); // expired by the injected clock
  });
});

describe('on Hono', () => {
  it('runs a request once and replays it', async () => {
    let runs = 0;
    const app = new Hono();
    app.use(idempotency({ store, scope: () => 'tenant' }));
    app.post('/pay', (c) => c.json({ run: ++runs }, 201));
    const pay = () =>
      app.request('/pay', { method: 'POST', headers: { 'idempotency-key': `pay-${run}` } });
    const first = await pay();
    const retry = await pay();
    expect([first.status, retry.status]).toEqual([201, 201]);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toBe(await first.text());
    expect(runs).toBe(1);
  });
});
