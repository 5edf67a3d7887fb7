import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { reachServer } from '@idem/conformance';
import { httpSuite } from '@idem/conformance/http';
import type { Store } from '@idem/core';
import { duplicateStorm, remoteSuite } from '@idem/test-runtimes';
import { reachableStores } from '@idem/test-stores';
import pg from 'pg';
import { type Browser, chromium } from 'playwright-core';
import { Client, Dispatcher, setGlobalDispatcher } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The app as users run it: `next build --webpack`, then `next start`, as
 * child processes. The HTTP conformance suite runs through the test harness
 * routes (app/harness, on with IDEM_TEST_HARNESS=1) on memory and Redis, a
 * duplicate storm on each, then the example's own route handler and its
 * Server Action, the latter double-submitted by headless Chromium.
 */

/**
 * fetch with a connection per request, closed by this side once the answer
 * is in. Next.js stops reading a connection whose handler cancelled a
 * request body still arriving, as idem does to refuse one over
 * maxRequestBytes with 413 (pinned without idem at the end of this file),
 * and whichever request came next on that connection would fail. Not
 * `Connection: close` either: Next would then close the socket as it
 * answers, while the rest of the upload is still being written (EPIPE).
 */
class ConnectionPerRequest extends Dispatcher {
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers) {
    const client = new Client(options.origin!);
    const close = () => setImmediate(() => void client.destroy().catch(() => {}));
    const settled =
      (name: 'onComplete' | 'onError') =>
      // biome-ignore lint/suspicious/noExplicitAny: undici's handler methods, called as they were.
      (...args: any[]) => {
        close();
        // biome-ignore lint/suspicious/noExplicitAny: as above.
        return (handler[name] as any)?.apply(handler, args);
      };
    return client.dispatch(
      options,
      new Proxy(handler, {
        get(target, name) {
          if (name === 'onComplete' || name === 'onError') return settled(name);
          const value = Reflect.get(target, name, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
    );
  }
  override async close() {}
  override async destroy() {}
}
setGlobalDispatcher(new ConnectionPerRequest());

const app = fileURLToPath(new URL('..', import.meta.url));
const next = fileURLToPath(new URL('../node_modules/.bin/next', import.meta.url));
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };

const started = Date.now();
await promisify(execFile)(next, ['build', '--webpack'], { cwd: app, env, maxBuffer: 64 << 20 });
const built = Date.now();
console.log(`next build: ${((built - started) / 1000).toFixed(1)} s`);

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** `next start` on a free port with `extra` in its environment; resolves to its base URL once it answers. */
async function nextStart(extra: Record<string, string>): Promise<string> {
  const port = await freePort();
  const child = spawn(next, ['start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: app,
    env: { ...env, ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const base = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`next start exited:\n${output}`);
    if (waited > 60_000) throw new Error(`next start did not answer in 60 s:\n${output}`);
    const answered = await fetch(`${base}/api/orders`).then(
      (r) => r.ok,
      () => false,
    );
    if (answered) return base;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const base = await nextStart({ IDEM_TEST_HARNESS: '1' });
console.log(`next start: ${((Date.now() - built) / 1000).toFixed(1)} s`);

const bridge = await remoteSuite({
  async start(spec) {
    const response = await fetch(`${base}/harness/servers`, {
      method: 'PUT',
      body: JSON.stringify(spec),
    });
    if (response.status !== 204) throw new Error(`PUT /harness/servers: ${response.status}`);
    return `${base}/harness/s/${spec.id}`;
  },
  async stop(id) {
    await fetch(`${base}/harness/servers?id=${id}`, { method: 'DELETE' });
  },
});
afterAll(() => bridge.close());

// Redis is probed from here (CI=true: it must answer); the store itself is
// built inside `next start`, on its own ioredis client.
const probe = await reachableStores({ label: 'nextjs', only: ['redis'] });
await probe.close();
const stores: Record<string, () => Store> = {
  memory: () => bridge.runtimeStore({ kind: 'memory' }),
};
if (probe.stores.redis) {
  stores.redis = () => bridge.runtimeStore({ kind: 'redis', url: redisUrl });
}

httpSuite({
  name: '@idem/web in Next.js route handlers (next build + next start)',
  stores,
  skipStores: probe.skipped,
  createServer: bridge.createServer,
  timeoutMs: 30_000,
});

const big = new Uint8Array(64 * 1024).fill(7);
const pieces = Array.from({ length: big.byteLength / 500 + 1 }, (_, i) =>
  big.subarray(i * 500, (i + 1) * 500),
).filter((piece) => piece.byteLength > 0);

describe('a body over maxRequestBytes', () => {
  it('Next.js stops reading a connection whose handler cancelled a body still arriving (no idem)', async () => {
    // app/harness/cancel reads a clone of the body past 1000 bytes, cancels
    // both and answers 413: what idem does, without idem. A body that had
    // wholly arrived leaves the connection usable; one still arriving leaves
    // it unread, so the next request on it is never answered. When this
    // starts failing, Next.js drains such bodies: drop ConnectionPerRequest above.
    const port = Number(new URL(base).port);
    /** The status lines the server wrote on one connection: a POST of 64 KiB, then a GET. */
    const exchange = (trickle: boolean) =>
      new Promise<string[]>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        let received = '';
        socket.on('data', (data) => (received += data));
        socket.on('error', () => {});
        socket.write(
          `POST /harness/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${big.byteLength}\r\n\r\n`,
        );
        const finish = async () => {
          socket.write('GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
          await new Promise((r) => setTimeout(r, 3_000));
          socket.destroy();
          resolve(received.match(/^HTTP\/1\.1 \d+/gm) ?? []);
        };
        if (!trickle) {
          socket.write(big);
          socket.once('data', () => void finish());
          return;
        }
        void (async () => {
          for (const piece of pieces) {
            socket.write(piece);
            await new Promise((r) => setTimeout(r, 2));
          }
          await finish();
        })();
      });
    expect(await exchange(false)).toEqual(['HTTP/1.1 413', 'HTTP/1.1 200']);
    expect(await exchange(true)).toEqual(['HTTP/1.1 413']);
  }, 60_000);
});

describe('a duplicate storm on next start', () => {
  for (const [name, create] of Object.entries(stores)) {
    it(`runs the handler once per key on ${name}`, async () => {
      const report = await duplicateStorm(bridge.createServer, create());
      console.log(`next start, ${name}: ${JSON.stringify(report)}`);
      expect(report).toMatchObject({ executions: report.keys, wrong: [], differing: [] });
    }, 180_000);
  }
});

// The example as deployed: no IDEM_TEST_HARNESS; on Redis when it answers.
const plain = nextStart(probe.stores.redis ? { IDEM_STORE: 'redis', REDIS_URL: redisUrl } : {});
// Awaited by the tests below, which report its failure.
plain.catch(() => {});

it('serves no test harness without IDEM_TEST_HARNESS=1', async () => {
  const url = await plain;
  const put = await fetch(`${url}/harness/servers`, { method: 'PUT', body: '{}' });
  expect(put.status).toBe(404);
  expect((await fetch(`${url}/harness/s/1/echo`, { method: 'POST' })).status).toBe(404);
  expect((await fetch(`${url}/harness/cancel`, { method: 'POST' })).status).toBe(404);
}, 120_000);

describe('the example route handler (app/api/payments/route.ts)', () => {
  const servers: Record<string, Promise<string>> = { memory: Promise.resolve(base) };
  if (probe.stores.redis) servers.redis = plain;
  for (const [name, server] of Object.entries(servers)) {
    it(`replays a retry with the same key, and runs a new key, on ${name}`, async () => {
      const url = `${await server}/api/payments`;
      const key = `pay-${Date.now()}-${Math.random()}`;
      const pay = (idempotencyKey: string) =>
        fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': idempotencyKey,
            'x-account-id': 'acct_1',
          },
          body: JSON.stringify({ amount: 1999 }),
        });
      const first = await pay(key);
      const firstBody = await first.json();
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const retry = await pay(key);
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(await retry.json()).toEqual(firstBody);
      // The handler ran once for the key: the next key's payment is the next one.
      const other = await (await pay(`${key}-other`)).json();
      expect(Number(other.id.slice(4))).toBe(Number(firstBody.id.slice(4)) + 1);
    }, 120_000);
  }
});

describe('the transactional route handler (app/api/transfers/route.ts)', () => {
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const pool = new pg.Pool({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 });
  pool.on('error', () => {});
  const reached = reachServer('PostgreSQL', databaseUrl, () => pool.query('SELECT 1'));
  afterAll(() => pool.end());

  it('commits one transfer row with the record; the retry is a replay', async (context) => {
    if (!(await reached)) return context.skip();
    const reference = `ref-${Date.now()}-${Math.random()}`;
    const send = () =>
      fetch(`${base}/api/transfers`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': reference,
          'x-account-id': 'acct_1',
        },
        body: JSON.stringify({ amount: 500, reference }),
      });
    const first = await send();
    expect(first.status).toBe(201);
    const body = await first.json();
    const retry = await send();
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(body);
    const { rows } = await pool.query('SELECT id FROM nextjs_transfers WHERE reference = $1', [
      reference,
    ]);
    expect(rows).toEqual([{ id: body.id }]);
  }, 60_000);
});

describe('the Server Action (app/orders)', () => {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  let browser: Browser | undefined;
  const launched = reachServer('Chromium', executablePath, async () => {
    if (!existsSync(executablePath)) {
      throw new Error(`${executablePath} does not exist (apt-get install chromium)`);
    }
    browser = await chromium.launch({
      executablePath,
      args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu'],
    });
  });
  afterAll(() => browser?.close());

  it('places one order when the form is submitted twice with its key', async (context) => {
    if (!(await launched)) return context.skip();
    const ordersBefore = ((await (await fetch(`${base}/api/orders`)).json()) as unknown[]).length;
    const page = await browser!.newPage();
    const actions: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.headers()['next-action']) {
        actions.push(request.postData() ?? '');
      }
    });
    await page.goto(`${base}/orders`, { waitUntil: 'networkidle' });
    // Hydrated: React's submit handler, not the browser's, sends the form.
    await page.waitForFunction(() =>
      Object.keys(document.querySelector('form') ?? {}).some((k) => k.startsWith('__react')),
    );
    const key = await page.locator('input[name="idempotency-key"]').inputValue();
    await page.locator('button[type="submit"]').dblclick();
    await expect
      .poll(
        async () =>
          (await page
            .getByRole('status')
            .textContent({ timeout: 1_000 })
            .catch(() => null)) ?? '',
        { timeout: 30_000 },
      )
      .toMatch(/^Order ord_\d+ placed: coffee$/);
    await expect.poll(() => actions.length, { timeout: 30_000 }).toBe(2);
    await page.waitForLoadState('networkidle');
    for (const body of actions) expect(body).toContain(key);
    const orders = (await (await fetch(`${base}/api/orders`)).json()) as unknown[];
    console.log(
      `Server Action: ${actions.length} submits with one key, ${orders.length - ordersBefore} order placed; the page says "${await page.getByRole('status').textContent()}"`,
    );
    expect(orders.length - ordersBefore).toBe(1);
    // The page rendered again after the order: the next submit carries a new key.
    expect(await page.locator('input[name="idempotency-key"]').inputValue()).not.toBe(key);
    await page.close();
  }, 120_000);
});
