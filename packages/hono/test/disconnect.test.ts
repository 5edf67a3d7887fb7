import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { serve } from '@hono/node-server';
import { memoryStore } from '@idem/store-memory';
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { afterEach, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

// Once the handler has run, a client that leaves never frees the key: the
// answer is stored when the handler ends, and the client's retry gets it.
it('never runs twice when the client leaves while the handler is still writing its answer', async () => {
  let runs = 0;
  let finish!: () => void;
  const app = new Hono();
  app.use(idempotency({ store: memoryStore(), scope: () => 'tenant' }));
  app.post('/', (c) => {
    runs++;
    return stream(c, async (s) => {
      await s.write('charged ');
      await new Promise<void>((r) => (finish = r));
      await s.write(String(runs));
    });
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  closers.push(() => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: k\r\nContent-Length: 2\r\n\r\n{}',
  );
  for (let i = 0; i < 100 && finish === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  socket.destroy();
  await new Promise((r) => setTimeout(r, 30));
  finish();
  await new Promise((r) => setTimeout(r, 50));
  const retry = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    headers: { 'idempotency-key': 'k', 'content-type': 'application/json' },
    body: '{}',
  });
  expect(retry.headers.get('idempotent-replayed')).toBe('true');
  expect(await retry.text()).toBe('charged 1');
  expect(runs).toBe(1);
});
