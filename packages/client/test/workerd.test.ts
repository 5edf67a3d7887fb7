import { memoryStore } from '@idem/store-memory';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fault, faultProxy } from './fault-proxy.js';
import { ADAPTERS, startPayments } from './payments.js';

/**
 * The client inside workerd (Cloudflare's runtime, run by miniflare): a
 * Worker forwards its request's body stream to an idem payments API through
 * `@idem/client`, over a proxy that breaks the first answer. The Worker
 * needs no `nodejs_compat`: the client uses Web APIs only.
 */

let script: string;
beforeAll(async () => {
  const result = await build({
    entryPoints: [new URL('./worker/checkout.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    // As wrangler bundles: browser builds, workerd conditions, nothing external,
    // so a node: import anywhere would fail here.
    platform: 'browser',
    conditions: ['@idem/source', 'workerd', 'worker', 'browser'],
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  script = result.outputFiles[0]!.text;
}, 60_000);

let mf: Miniflare | undefined;
afterAll(() => mf?.dispose());

interface Paid {
  status: number;
  body: { reference: string; id: string };
  info: { key: string; attempts: number; replayed: boolean };
  retries: { attempt: number; key: string; status?: number; error?: string }[];
}

/** Run the Worker against `upstream` and pay `reference` through it. */
async function payThroughWorker(upstream: string, reference: string): Promise<Paid> {
  await mf?.dispose();
  mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: '2025-09-01',
    compatibilityFlags: [],
    bindings: { UPSTREAM: upstream, ATTEMPT_TIMEOUT_MS: '2000' },
  });
  const response = await mf.dispatchFetch('http://worker.example/checkout', {
    method: 'POST',
    body: JSON.stringify({ reference, amount: 1999 }),
  });
  return (await response.json()) as Paid;
}

describe('in workerd (miniflare)', () => {
  const breaks: Record<string, Fault> = {
    'dropped after the server charged': { response: 'drop' },
    'cut in the middle by a reset': { response: 'reset' },
    'held past the attempt timeout': { delayResponseMs: 8000 },
  };
  it.each(
    Object.entries(breaks).flatMap(([name, fault]) =>
      ADAPTERS.map((a) => [a, name, fault] as const),
    ),
  )(
    '%s: an answer %s is retried with the same key and body',
    async (adapter, _name, fault) => {
      const server = await startPayments(adapter, { store: memoryStore(), latencyMs: () => 5 });
      let posts = 0;
      const proxy = await faultProxy(server.url, (head) =>
        head.startsWith('POST ') && posts++ === 0 ? fault : { closeConnection: true },
      );
      try {
        const reference = `workerd-${adapter}-${posts}-${Math.random()}`;
        const paid = await payThroughWorker(proxy.url, reference);
        expect(paid.status).toBe(201);
        expect(paid.body).toMatchObject({ reference, id: `ch_${reference}_1` });
        expect(paid.info.replayed).toBe(true);
        expect(paid.info.attempts).toBe(2);
        expect(paid.retries).toEqual([
          {
            attempt: 1,
            key: paid.info.key,
            error: fault.delayResponseMs
              ? expect.stringMatching(/^TimeoutError/)
              : expect.any(String),
          },
        ]);
        expect(new Set(server.keys)).toEqual(new Set([paid.info.key]));
        expect(server.charges.get(reference)).toBe(1);
      } finally {
        await proxy.close();
        await server.close();
      }
    },
    120_000,
  );
});
