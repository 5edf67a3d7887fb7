import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpIdempotency } from '../http/handler.js';
import { ABSENT, observe, type RecordState, toRecord, transition } from '../lifecycle.js';
import type { ClaimResult, OwnerResult, Store } from '../store/contract.js';
import { captureNodeResponse } from './capture.js';
import { nodeHttpRequest } from './request.js';
import { sendNodeResponse } from './response.js';

function mapStore(): Store {
  const records = new Map<string, RecordState>();
  const apply = (key: string, event: Parameters<typeof transition>[1]) => {
    const { next, result } = transition(records.get(key) ?? ABSENT, event);
    if (next.state === 'absent') records.delete(key);
    else records.set(key, next);
    return result;
  };
  const now = () => Date.now();
  return {
    claim: async (key, r) => apply(key, { type: 'claim', now: now(), ...r }) as ClaimResult,
    complete: async (key, token, response, ttlMs) =>
      apply(key, { type: 'complete', now: now(), token, response, ttlMs }) as OwnerResult,
    release: async (key, token) =>
      apply(key, { type: 'release', now: now(), token }) as OwnerResult,
    renew: async (key, token, leaseMs) =>
      apply(key, { type: 'renew', now: now(), token, leaseMs }) as OwnerResult,
    read: async (key) => toRecord(observe(records.get(key) ?? ABSENT, now())),
  };
}

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A bare node:http server with idem in front of `handler`. */
async function serve(
  handler: (res: ServerResponse) => void,
  maxResponseBytes?: number,
  before?: (res: ServerResponse) => void,
) {
  const http = createHttpIdempotency({
    store: mapStore(),
    scope: () => 't',
    ...(maxResponseBytes ? { maxResponseBytes } : {}),
  });
  let runs = 0;
  const server = createServer(async (req, res) => {
    const body = async () => new Uint8Array(0);
    const decision = await http.handle(nodeHttpRequest(req, req.url ?? '/', body), req);
    if (decision.kind === 'respond') return sendNodeResponse(res, decision.response);
    before?.(res);
    if (decision.kind === 'execute')
      captureNodeResponse(res, decision, { limit: http.maxResponseBytes });
    runs++;
    handler(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const post = async () => {
    const res = await fetch(url, { method: 'POST', headers: { 'idempotency-key': 'k' } });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  };
  return { post, runs: () => runs };
}

describe('captureNodeResponse', () => {
  it('captures a response whose methods middleware wrapped before idem, and one it did not', async () => {
    for (const wrapped of [true, false]) {
      let wrapperCalls = 0;
      const { post, runs } = await serve(
        (res) => {
          res.statusCode = 201;
          res.setHeader('content-type', 'text/plain');
          res.write('hel');
          // While held, the response reports what the handler did, not what reached the socket.
          expect([res.headersSent, res.writableEnded]).toEqual([true, false]);
          res.end('lo');
          expect(res.writableEnded).toBe(true);
        },
        undefined,
        (res) => {
          if (!wrapped) return;
          // As compression does, on the response itself.
          const end = res.end;
          res.end = function (this: ServerResponse, ...args: unknown[]) {
            wrapperCalls++;
            return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
          } as typeof res.end;
        },
      );
      const first = await post();
      expect([first.res.status, first.body.toString()]).toEqual([201, 'hello']);
      const second = await post();
      expect([second.res.status, second.body.toString()]).toEqual([201, 'hello']);
      expect(second.res.headers.get('idempotent-replayed')).toBe('true');
      expect(runs()).toBe(1);
      expect(wrapperCalls).toBe(wrapped ? 1 : 0);
    }
  });

  it('takes writeHead headers in every form Node accepts, repeats included', async () => {
    const forms: Array<(res: ServerResponse) => void> = [
      (res) => res.writeHead(201, { 'x-a': ['1', '2'], 'content-type': 'text/plain' }),
      (res) => res.writeHead(201, 'Made', ['X-A', '1', 'x-a', '2', 'content-type', 'text/plain']),
      (res) => {
        res.setHeader('x-a', 'replaced');
        res.writeHead(201, [
          ['x-a', '1'],
          ['x-a', '2'],
          ['content-type', 'text/plain'],
        ] as unknown as string[]);
      },
    ];
    for (const form of forms) {
      const { post, runs } = await serve((res) => {
        form(res);
        res.end('made');
      });
      const first = await post();
      const again = await post();
      expect(first.res.headers.get('x-a')).toBe('1, 2');
      expect(again.res.headers.get('idempotent-replayed')).toBe('true');
      expect(again.res.status).toBe(201);
      expect(again.res.headers.get('x-a')).toBe('1, 2');
      expect(again.body.toString()).toBe('made');
      expect(runs()).toBe(1);
    }
  });

  it('calls write callbacks, honours write encodings, and holds flushHeaders until the end', async () => {
    const called: string[] = [];
    const { post } = await serve((res) => {
      res.setHeader('content-type', 'text/plain');
      res.flushHeaders();
      res.write('68656c6c6f20', 'hex', () => called.push('hex'));
      res.write(Buffer.from('wor'), () => called.push('buffer'));
      res.end('ld', () => called.push('end'));
    });
    const first = await post();
    expect(first.body.toString()).toBe('hello world');
    expect(called.sort()).toEqual(['buffer', 'end', 'hex']);
    const again = await post();
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.toString()).toBe('hello world');
  });

  it('streams a body that outgrows the limit in order, then refuses to replay it', async () => {
    const { post, runs } = await serve((res) => {
      for (let i = 0; i < 10; i++) res.write(`${i}`.repeat(30));
      res.end();
    }, 100);
    const first = await post();
    expect(first.body.toString()).toBe(
      Array.from({ length: 10 }, (_, i) => `${i}`.repeat(30)).join(''),
    );
    expect((await post()).res.status).toBe(410);
    expect(runs()).toBe(1);
  });
});
