import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendBytes } from '../src/http/client.js';

/** A raw TCP server that answers every request with `answer(socket)` and keeps sockets open unless told. */
async function rawServer(answer: (socket: Socket) => void): Promise<string> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => answer(socket));
    socket.on('error', () => {});
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const servers: Array<ReturnType<typeof createServer>> = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const HEAD = 'POST /echo HTTP/1.1\r\nHost: test';

describe('sendBytes', () => {
  it('resolves once Content-Length bytes arrived, though the server keeps the connection open', async () => {
    const url = await rawServer((s) =>
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Multi: one\r\nX-Multi: two\r\n\r\nhello'),
    );
    const started = Date.now();
    const reply = await sendBytes(url, HEAD, '{}');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(reply.status).toBe(200);
    expect(reply.text()).toBe('hello');
    expect(reply.header('x-multi')).toBe('one, two');
  });

  it('waits for a body that arrives in pieces', async () => {
    const url = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Le');
      setTimeout(() => s.write('ngth: 6\r\n\r\nabc'), 20);
      setTimeout(() => s.write('def'), 40);
    });
    expect((await sendBytes(url, HEAD)).text()).toBe('abcdef');
  });

  it('resolves at the chunked terminator, trailers included, and decodes the chunks', async () => {
    const url = await rawServer((s) =>
      s.write(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n',
      ),
    );
    const reply = await sendBytes(url, HEAD);
    expect(reply.text()).toBe('abcde');
  });

  it('resolves a 204 at the end of its head, after skipping a 100 Continue', async () => {
    const empty = await rawServer((s) =>
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'),
    );
    const reply = await sendBytes(empty, HEAD);
    expect([reply.status, reply.header('x-a'), reply.body.byteLength]).toEqual([204, '1', 0]);
  });

  it("reads a response without framing until the server closes: Node's bare 400", async () => {
    const url = await rawServer((s) =>
      s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'),
    );
    const reply = await sendBytes(url, HEAD);
    expect([reply.status, reply.body.byteLength]).toEqual([400, 0]);
  });

  it('takes an answer followed by a reset, as a server that refuses the request may send', async () => {
    const url = await rawServer((s) => {
      s.write('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      setTimeout(() => s.resetAndDestroy(), 10);
    });
    expect((await sendBytes(url, HEAD)).status).toBe(400);
  });

  it('rejects when the connection ends without a response, or goes quiet before it is complete', async () => {
    const silent = await rawServer((s) => s.destroy());
    await expect(sendBytes(silent, HEAD)).rejects.toThrow();
    const slow = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc'));
    await expect(sendBytes(slow, HEAD, '', 200)).rejects.toThrow(
      /went quiet for 200 ms before a complete response/,
    );
  });
});
