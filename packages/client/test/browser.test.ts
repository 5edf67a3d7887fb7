import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reachServer } from '@idem/conformance';
import { memoryStore } from '@idem/store-memory';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultProxy } from './fault-proxy.js';
import { ADAPTERS, startPayments } from './payments.js';

/**
 * The client in a real browser: headless Chromium loads a page from one
 * origin that pays through `@idem/client` against an idem server on another
 * origin (so every call goes through CORS), behind a proxy that drops the
 * server's first answer. The browser must retry with the same key and get
 * the replay, on each adapter with the CORS setup the README shows.
 *
 * CHROMIUM_PATH overrides /usr/bin/chromium (Debian's package). Without it the
 * tests are skipped with a banner; with CI=true they fail.
 */

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let browser: Browser | undefined;
const launched = await reachServer('Chromium', executablePath, async () => {
  if (!existsSync(executablePath))
    throw new Error(`${executablePath} does not exist (apt-get install chromium)`);
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu'],
  });
});
afterAll(() => browser?.close());

/** The page's origin: an HTML page and the client bundled for browsers by esbuild. */
let site: Server;
let siteUrl: string;
beforeAll(async () => {
  if (!launched) return;
  const bundle = await build({
    entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@idem/source'],
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.text;
  const page = `<!doctype html><meta charset="utf-8"><title>pay</title>
<script type="module">
  import { createIdempotentFetch, idempotencyInfo } from '/client.js';
  window.pay = async (api, reference) => {
    const retries = [];
    const fetch = createIdempotentFetch({
      baseDelayMs: 10,
      onRetry: (e) => retries.push({ key: e.key, attempt: e.attempt, error: String(e.error) }),
    });
    const response = await fetch(api + '/payments', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-merchant': 'acme' },
      body: JSON.stringify({ reference, amount: 1999 }),
    });
    return { status: response.status, body: await response.json(), info: idempotencyInfo(response), retries };
  };
  window.ready = true;
</script>`;
  site = createServer((req, res) => {
    const js = req.url === '/client.js';
    res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html' });
    res.end(js ? script : page);
  });
  site.listen(0, '127.0.0.1');
  await once(site, 'listening');
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
}, 60_000);
afterAll(() => site?.close());

async function openPage(): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(siteUrl);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  return page;
}

interface PayResult {
  status: number;
  body: { reference: string; id: string };
  info: { key: string; attempts: number; replayed: boolean } | undefined;
  retries: { key: string; attempt: number; error: string }[];
}

describe.skipIf(!launched)('in headless Chromium', () => {
  it.each(ADAPTERS)(
    '%s: a dropped answer is retried with the same key, across origins, and replayed',
    async (adapter) => {
      const server = await startPayments(adapter, {
        store: memoryStore(),
        latencyMs: () => 5,
        corsOrigin: siteUrl,
      });
      // Drop the answer to the first POST, after the server has charged. Every
      // answer closes its connection, so the failure reaches the page (see the
      // next test for what Chromium does on a reused connection).
      let posts = 0;
      const proxy = await faultProxy(server.url, (head) =>
        head.startsWith('POST ') && posts++ === 0
          ? { response: 'drop' }
          : { closeConnection: true },
      );
      const page = await openPage();
      try {
        const reference = `browser-${adapter}`;
        const result = (await page.evaluate(
          ([api, ref]) =>
            (window as unknown as { pay(a: string, r: string): Promise<unknown> }).pay(api!, ref!),
          [proxy.url, reference],
        )) as PayResult;

        expect(proxy.stats.dropped).toBe(1);
        expect(result.status).toBe(201);
        expect(result.body).toMatchObject({ reference, id: `ch_${reference}_1` });
        // The browser's retry came from the client: one failure seen, then the replay,
        // readable only because the server exposes Idempotent-Replayed through CORS.
        expect(result.info).toEqual({ key: expect.any(String), attempts: 2, replayed: true });
        expect(result.retries).toEqual([
          { key: result.info!.key, attempt: 1, error: expect.stringMatching(/TypeError/) },
        ]);
        expect(server.keys).toEqual([result.info!.key, result.info!.key]);
        expect(server.charges.get(reference)).toBe(1);
      } finally {
        await page.close();
        await proxy.close();
        await server.close();
      }
    },
    60_000,
  );

  it('hono: when Chromium resends a POST by itself (a reused connection closed before any answer), the key goes with it', async () => {
    const server = await startPayments('hono', {
      store: memoryStore(),
      latencyMs: () => 5,
      corsOrigin: siteUrl,
    });
    let posts = 0;
    const proxy = await faultProxy(server.url, (head) =>
      head.startsWith('POST ') && posts++ === 0 ? { response: 'drop' } : {},
    );
    const page = await openPage();
    try {
      const result = (await page.evaluate(
        ([api]) =>
          (window as unknown as { pay(a: string, r: string): Promise<unknown> }).pay(
            api!,
            'browser-resend',
          ),
        [proxy.url],
      )) as PayResult;
      // Whoever resent it (the browser's network stack, or the client when the
      // connection was new), every POST carried the one key, and it ran once.
      expect(result).toMatchObject({ status: 201, info: { replayed: true } });
      expect(server.keys.length).toBeGreaterThanOrEqual(2);
      expect(new Set(server.keys)).toEqual(new Set([result.info!.key]));
      expect(server.charges.get('browser-resend')).toBe(1);
      expect(result.info!.attempts).toBe(
        server.keys.length - (result.info!.attempts === 1 ? 1 : 0),
      );
    } finally {
      await page.close();
      await proxy.close();
      await server.close();
    }
  }, 60_000);
});
