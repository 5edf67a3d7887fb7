import { storeChecks } from '@idem/conformance/store/checks';
import type { Store } from '@idem/core';
import type { ClaimRequest } from '@idem/core/store';
import { d1Store } from '@idem/store-d1';
import { decode, encode } from '@idem/test-runtimes/wire';
import { Miniflare, type WorkerOptions } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, COMPATIBILITY_DATE } from './backends.ts';
import { STORE_TABLE } from './protocol.ts';

/**
 * @idem/store-d1 and @idem/store-durable-objects with every operation
 * executed INSIDE workerd, in two Workers (two isolates) that share one D1
 * database and one Durable Object namespace: the store in Node is a proxy that
 * sends each call to a Worker (./store-worker.ts), which performs it with the
 * real store on its real binding.
 *
 * What runs here is what one Worker cannot show: the conformance suite's
 * race of two store instances on one key, with one instance in each isolate,
 * and the calls each operation makes on its binding. The whole suite runs in
 * the store packages, each check inside one Worker next to its binding.
 */

type Kind = 'd1' | 'durable-objects';
type Isolate = 'a' | 'b';
let mf: Miniflare;

beforeAll(async () => {
  const script = await bundle('test/store-worker.ts');
  const worker = (name: Isolate): WorkerOptions => ({
    name,
    routes: [`${name}.test/*`],
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    d1Databases: { IDEM_DB: 'idem-store-conformance' },
    durableObjects: {
      IDEMPOTENCY: {
        className: 'IdempotencyObject',
        useSQLite: true,
        ...(name === 'b' ? { scriptName: 'a' } : {}),
      },
    },
  });
  mf = new Miniflare({ workers: [worker('a'), worker('b')] });
  await mf.ready;
  await d1Store({ database: await mf.getD1Database('IDEM_DB', 'a'), table: STORE_TABLE }).migrate();
}, 120_000);

afterAll(() => mf?.dispose());

/** One store operation performed inside the Worker `isolate`; the round trips it made there. */
async function perform(
  isolate: Isolate,
  kind: Kind,
  method: string,
  args: unknown[],
  now?: number,
): Promise<{ result: unknown; trips: number }> {
  const res = await mf.dispatchFetch(`http://${isolate}.test/${kind}/${method}`, {
    method: 'POST',
    body: encode({ args, now }),
  });
  const text = await res.text();
  const trips = Number(res.headers.get('x-round-trips'));
  if (res.status === 200) return { result: decode(text), trips };
  const { code, name, message } = JSON.parse(text) as Record<string, string>;
  throw Object.assign(new Error(message), { code, name });
}

/** A Store whose every operation runs in the Worker `isolate`. */
async function workerStore(isolate: Isolate, kind: Kind, now?: () => number): Promise<Store> {
  const limit = Number(
    await (await mf.dispatchFetch(`http://${isolate}.test/${kind}/limit`)).text(),
  );
  const call =
    (method: string) =>
    async (...args: unknown[]) =>
      (await perform(isolate, kind, method, args, now?.())).result;
  return {
    claim: call('claim'),
    complete: call('complete'),
    release: call('release'),
    renew: call('renew'),
    read: call('read'),
    maxResponseBytes: limit,
  } as Store;
}

/** The conformance check whose two store instances race one key: here, one in each isolate. */
const RACE = 'two store instances on one backend racing one key give exactly one owner';

for (const kind of ['d1', 'durable-objects'] as const) {
  // The rest of the suite runs whole inside one Worker, next to the binding, in
  // the store packages (packages/store-*/test/conformance.test.ts).
  describe(`${kind} inside workerd: two isolates racing one key`, () => {
    for (const clock of ['server', 'injectable'] as const) {
      const clockName = clock === 'server' ? "the backend's clock" : 'injected clock';
      // Both clocks at once: each race uses keys of its own.
      it.concurrent(`concurrency: ${RACE}, one in isolate a, the other in b (${clockName})`, async () => {
        let built = 0;
        const race = storeChecks({
          name: `${kind} across isolates a and b`,
          clock,
          sharedBackend: true,
          // The check's first store is in isolate a, the one it races in isolate b.
          createStore: ({ now }) =>
            workerStore(built++ % 2 ? 'b' : 'a', kind, clock === 'injectable' ? now : undefined),
        }).find((c) => c.name === RACE);
        expect(race, 'the store suite still has its two-instance race').toBeDefined();
        await race!.run();
        expect(built).toBe(2);
      }, 60_000);
    }
  });

  describe(`${kind} inside workerd: round trips`, () => {
    it('makes one call on the binding per operation', async () => {
      const key = `idem1:round-trips-${kind}-${Date.now()}`;
      const other = `${key}-other`;
      const owner: ClaimRequest = {
        fingerprint: 'fp',
        token: crypto.randomUUID(),
        leaseMs: 30_000,
      };
      const second = { ...owner, token: crypto.randomUUID() };
      const response = { status: 201, headers: [['x', '1']], body: new Uint8Array([1, 2]) };
      const trips = async (method: string, ...args: unknown[]) =>
        (await perform('a', kind, method, args)).trips;
      const counts = {
        'claim (new)': await trips('claim', key, owner),
        'claim (refused)': await trips('claim', key, second),
        renew: await trips('renew', key, owner.token, 30_000),
        read: await trips('read', key),
        complete: await trips('complete', key, owner.token, response, 60_000),
        'claim (replay)': await trips('claim', key, second),
        'claim (other key)': await trips('claim', other, owner),
        release: await trips('release', other, owner.token),
      };
      expect(counts).toEqual({
        'claim (new)': 1,
        'claim (refused)': 1,
        renew: 1,
        read: 1,
        complete: 1,
        'claim (replay)': 1,
        'claim (other key)': 1,
        release: 1,
      });
    });
  });
}
