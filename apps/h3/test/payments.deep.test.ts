import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

// The example of docs/runtimes/h3.md run as written: its own process, h3's
// serve() on the PORT and HOST it is given, the test a client over HTTP.
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const example = fileURLToPath(new URL('../src/payments.ts', import.meta.url));

let child: ChildProcess;
let base: string;

beforeAll(async () => {
  // Without vitest's TEST variable, which keeps srvx from printing where it listens.
  const { TEST: _, ...env } = process.env;
  child = spawn(process.execPath, ['--conditions=@idem/source', '--import', tsx, example], {
    env: { ...env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      // srvx prints where it listens: `➜ Listening on: http://127.0.0.1:<port>/`.
      const url = /https?:\/\/[\w.:[\]]+/.exec(out)?.[0];
      if (url) resolve(url);
    });
    child.once('exit', (code) => reject(new Error(`the example exited (${code}): ${out}`)));
  });
}, 60_000);

afterAll(() => {
  child.kill('SIGKILL');
});

const pay = (key: string, account: string, body: string) =>
  fetch(`${base}/payments`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'idempotency-key': key,
      'x-account-id': account,
    },
  });

it('charges once for two POSTs with one key and replays the first answer', async () => {
  const first = await pay('order-1', 'acct_1', '{"amount":1299}');
  const retry = await pay('order-1', 'acct_1', '{ "amount": 1299 }');
  expect(first.status).toBe(201);
  expect(first.headers.get('idempotent-replayed')).toBeNull();
  expect(retry.status).toBe(201);
  expect(retry.headers.get('idempotent-replayed')).toBe('true');
  const charged = await first.json();
  expect(charged).toEqual({ id: 'pay_1', amount: 1299, account: 'acct_1' });
  expect(await retry.json()).toEqual(charged);
  // The next charge is the second: the retry did not run the handler.
  const next = await pay('order-2', 'acct_1', '{"amount":500}');
  expect(await next.json()).toMatchObject({ id: 'pay_2' });
});

it('keeps accounts apart, refuses a reused key with another body, and asks for a key', async () => {
  // The scope comes from X-Account-Id: another account's order-1 is a charge of its own.
  const other = await pay('order-1', 'acct_2', '{"amount":1299}');
  expect(other.status).toBe(201);
  expect(other.headers.get('idempotent-replayed')).toBeNull();
  expect(await other.json()).toMatchObject({ id: 'pay_3', account: 'acct_2' });
  const mismatch = await pay('order-1', 'acct_1', '{"amount":1}');
  expect(mismatch.status).toBe(422);
  expect(mismatch.headers.get('content-type')).toBe('application/problem+json');
  const keyless = await fetch(`${base}/payments`, {
    method: 'POST',
    body: '{"amount":5}',
    headers: { 'content-type': 'application/json', 'x-account-id': 'acct_1' },
  });
  expect(keyless.status).toBe(400);
  const anonymous = await fetch(`${base}/payments`, { method: 'POST', body: '{"amount":5}' });
  expect(anonymous.status).toBe(401);
});

it('releases the key on a thrown HTTPError, so the corrected retry runs', async () => {
  const refused = await pay('order-3', 'acct_1', '{"amount":-5}');
  expect(refused.status).toBe(400);
  const again = await pay('order-3', 'acct_1', '{"amount":-5}');
  expect(again.status).toBe(400);
  expect(again.headers.get('idempotent-replayed')).toBeNull();
});

it('runs the refund route (defineHandler with its middleware, as a Nitro route file exports) once per key', async () => {
  const refund = () =>
    fetch(`${base}/payments/pay_1/refund`, {
      method: 'POST',
      headers: { 'idempotency-key': 'refund-1', 'x-account-id': 'acct_1' },
    });
  const first = await refund();
  const retry = await refund();
  expect(first.status).toBe(202);
  expect(await first.json()).toEqual({ refunded: 'pay_1' });
  expect(retry.status).toBe(202);
  expect(retry.headers.get('idempotent-replayed')).toBe('true');
});
