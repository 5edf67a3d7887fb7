import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import fastifyCors from '@fastify/cors';
import { serve } from '@hono/node-server';
import type { Store } from '@idem/core';
import { idempotency as expressIdempotency } from '@idem/express';
import { idempotency as fastifyIdempotency } from '@idem/fastify';
import { idempotency as honoIdempotency } from '@idem/hono';
import cors from 'cors';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { cors as honoCors } from 'hono/cors';

/**
 * The same payments API on each adapter: `POST /payments` with
 * `{ reference, amount }` charges once and answers `201` with the charge; an
 * amount that is not a positive integer gets `422`. The server counts the
 * charges per reference, which is what "exactly once" is checked against.
 */

export const ADAPTERS = ['hono', 'express', 'fastify'] as const;
export type Adapter = (typeof ADAPTERS)[number];

export interface PaymentsServer {
  readonly url: string;
  /** Charges made, by payment reference. */
  readonly charges: Map<string, number>;
  /** Requests that reached the payments route's middleware chain. */
  requests: number;
  /** The Idempotency-Key header of each POST that reached the server, in order. */
  readonly keys: (string | undefined)[];
  close(): Promise<void>;
}

export interface PaymentsOptions {
  readonly store: Store;
  /** How long a charge takes, drawn per request. */
  readonly latencyMs: () => number;
  /** Allow browser calls from this origin, with the CORS setup the README shows. */
  readonly corsOrigin?: string;
}

// What the README's "CORS for browser callers" section configures.
const ALLOW_HEADERS = ['Content-Type', 'Idempotency-Key', 'X-Merchant'];
const EXPOSE_HEADERS = ['Idempotent-Replayed', 'Retry-After'];

interface Payment {
  reference?: unknown;
  amount?: unknown;
}

type Answer = { status: 201 | 422; body: Record<string, unknown> };

/** The handler every adapter runs: validate, wait like a card processor, count the charge. */
async function charge(
  server: PaymentsServer,
  options: PaymentsOptions,
  payment: Payment,
): Promise<Answer> {
  const { reference, amount } = payment;
  if (typeof reference !== 'string' || !Number.isInteger(amount) || (amount as number) <= 0) {
    return { status: 422, body: { error: 'reference and a positive integer amount are required' } };
  }
  await new Promise((r) => setTimeout(r, options.latencyMs()));
  const n = (server.charges.get(reference) ?? 0) + 1;
  server.charges.set(reference, n);
  return { status: 201, body: { id: `ch_${reference}_${n}`, reference, amount } };
}

const scopeHeader = 'x-merchant';

/** Start the payments API on `adapter`, on a free loopback port. */
export async function startPayments(
  adapter: Adapter,
  options: PaymentsOptions,
): Promise<PaymentsServer> {
  const state = {
    charges: new Map<string, number>(),
    requests: 0,
    keys: [] as (string | undefined)[],
  };
  const seen = (method: string, key: string | undefined) => {
    state.requests++;
    if (method === 'POST') state.keys.push(key);
  };
  const origin = options.corsOrigin;
  switch (adapter) {
    case 'hono': {
      const app = new Hono();
      if (origin) {
        app.use(
          '/payments',
          honoCors({ origin, allowHeaders: ALLOW_HEADERS, exposeHeaders: EXPOSE_HEADERS }),
        );
      }
      app.use('/payments', async (c, next) => {
        seen(c.req.method, c.req.header('idempotency-key'));
        await next();
      });
      app.use(
        '/payments',
        honoIdempotency({
          store: options.store,
          scope: (c) => c.req.header(scopeHeader) ?? 'anonymous',
        }),
      );
      app.post('/payments', async (c) => {
        const answer = await charge(server, options, await c.req.json());
        return c.json(answer.body, answer.status);
      });
      const node = await new Promise<ReturnType<typeof serve>>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      const server: PaymentsServer = Object.assign(state, {
        url: `http://127.0.0.1:${(node.address() as AddressInfo).port}`,
        async close() {
          if ('closeAllConnections' in node) node.closeAllConnections();
          node.close();
        },
      });
      return server;
    }
    case 'express': {
      const app = express();
      if (origin) {
        app.use(cors({ origin, allowedHeaders: ALLOW_HEADERS, exposedHeaders: EXPOSE_HEADERS }));
      }
      app.use((req, _res, next) => {
        seen(req.method, req.get('idempotency-key'));
        next();
      });
      app.use(
        expressIdempotency({
          store: options.store,
          scope: (req) => req.get(scopeHeader) ?? 'anonymous',
        }),
      );
      app.use(express.json());
      app.post('/payments', async (req, res) => {
        const answer = await charge(server, options, req.body as Payment);
        res.status(answer.status).json(answer.body);
      });
      const node = app.listen(0, '127.0.0.1');
      await once(node, 'listening');
      const server: PaymentsServer = Object.assign(state, {
        url: `http://127.0.0.1:${(node.address() as AddressInfo).port}`,
        async close() {
          node.closeAllConnections();
          node.close();
        },
      });
      return server;
    }
    case 'fastify': {
      const app = Fastify();
      if (origin) {
        await app.register(fastifyCors, {
          origin,
          allowedHeaders: ALLOW_HEADERS,
          exposedHeaders: EXPOSE_HEADERS,
        });
      }
      app.addHook('onRequest', async (request) => {
        seen(request.method, request.headers['idempotency-key'] as string | undefined);
      });
      await app.register(fastifyIdempotency, {
        store: options.store,
        scope: (request) => (request.headers[scopeHeader] as string | undefined) ?? 'anonymous',
      });
      app.post('/payments', async (request, reply) => {
        const answer = await charge(server, options, request.body as Payment);
        return reply.code(answer.status).send(answer.body);
      });
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      const server: PaymentsServer = Object.assign(state, { url, close: () => app.close() });
      return server;
    }
  }
}
