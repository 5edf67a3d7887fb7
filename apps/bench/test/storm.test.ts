import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runStorm } from '../src/storm.ts';

let server: http.Server | undefined;
afterEach(
  () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
);

/** A payments server that runs the handler for every request, or once per key. */
async function start(dedupe: boolean): Promise<number> {
  const counts = new Map<string, number>();
  const done = new Set<string>();
  server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(Object.fromEntries(counts)));
      return;
    }
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      if (dedupe && done.has(key)) {
        res.statusCode = 409;
        res.end();
        return;
      }
      done.add(key);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      setTimeout(() => {
        res.statusCode = 201;
        res.end('{}');
      }, 5);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server!.address() as AddressInfo).port;
}

describe('the retry storm check', () => {
  const options = { keys: 20, sendsPerKey: 5, connections: 20, delayMs: 5, keyPrefix: 'k' };

  it('sees a handler that runs for every duplicate', async () => {
    const result = await runStorm({ port: await start(false), ...options });
    expect(result.exactlyOnce).toBe(false);
    expect(result.executions).toBe(100);
    expect(result.keysMoreThanOnce).toBe(20);
    expect(result.maxPerKey).toBe(5);
  });

  it('sees a handler that runs once per key', async () => {
    const result = await runStorm({ port: await start(true), ...options });
    expect(result.exactlyOnce).toBe(true);
    expect(result.executions).toBe(20);
    expect(result.statuses).toEqual({ '201': 20, '409': 80 });
  });
});
