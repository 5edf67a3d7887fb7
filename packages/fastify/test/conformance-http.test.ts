import { Readable } from 'node:stream';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  httpSuite,
} from '@idem/conformance/http';
import { reachableStores } from '@idem/test-stores';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterAll } from 'vitest';
import { idempotency } from '../src/index.js';

// The memory store and Redis (CI=true: Redis must answer): this suite proves the
// adapter's translation. Every other store runs the same suite end to end through
// the reference server, in its own package (test/conformance-http.test.ts).
const stores = await reachableStores({ label: 'fastify', only: ['memory', 'redis'] });
afterAll(() => stores.close());

interface Query {
  status?: string;
  size?: string;
  chunk?: string;
  async?: string;
}

/** The suite's route contract on Fastify; every body arrives as a Buffer. */
async function fastifyServer({ options, routeOptions, enter }: HttpTestApp) {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: 16 * 1024 * 1024 },
    (_req, body, done) => done(null, body),
  );
  const headersOf = (request: FastifyRequest) => (name: string) => {
    const value = request.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  await app.register(idempotency, frameworkOptions(options, headersOf));
  const echo = (route: 'echo' | 'own') =>
    async function handler(request: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) {
      const run = await enter(route);
      reply
        .code(Number(request.query.status ?? 200))
        .header('content-type', request.headers['content-type'] ?? 'application/octet-stream')
        .header('x-run', String(run))
        .header('set-cookie', `run=${run}`)
        .header('x-multi', ['one', 'two']);
      return reply.send((request.body as Buffer | undefined) ?? Buffer.alloc(0));
    };
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
  app.route<{ Querystring: Query }>({ method: methods, url: '/echo', handler: echo('echo') });
  app.route<{ Querystring: Query }>({
    method: methods,
    url: '/own',
    config: { idempotency: frameworkOptions(routeOptions, headersOf) },
    handler: echo('own'),
  });
  app.post<{ Querystring: Query }>('/bytes', async (request, reply) => {
    await enter('bytes');
    const bytes = Buffer.from(fixtureBytes(Number(request.query.size)));
    reply.header('content-type', 'application/octet-stream');
    const chunk = Number(request.query.chunk ?? 0);
    if (!chunk) return reply.send(bytes);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += chunk) chunks.push(bytes.subarray(at, at + chunk));
    return reply.send(Readable.from(chunks));
  });
  app.post('/events', async (_request, reply) => {
    await enter('events');
    return reply.header('content-type', 'text/event-stream').send(Readable.from(EVENTS));
  });
  app.post('/empty', async (_request, reply) => {
    await enter('empty');
    return reply.code(204).send();
  });
  // `/parsed`: Fastify's own JSON and text parsers and a form parser, in a
  // context of their own. Content-type parsers always read the body before
  // idem's preHandler hook, READ_FIRST or not.
  await app.register(async (parsed) => {
    parsed.addContentTypeParser(
      'application/json',
      { parseAs: 'string' },
      parsed.getDefaultJsonParser('error', 'error'),
    );
    parsed.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) =>
      done(null, body),
    );
    parsed.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    parsed.post('/parsed', async (request, reply) => {
      const run = await enter('parsed');
      const body = request.body;
      return reply
        .header('x-run', String(run))
        .send({ body: Buffer.isBuffer(body) ? [...body] : body });
    });
  });
  app.post<{ Querystring: Query }>('/throw', async (request) => {
    await enter('throw');
    if (request.query.async) await Promise.resolve();
    throw new Error('boom');
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}

httpSuite({
  name: 'fastify 5',
  stores: stores.stores,
  skipStores: stores.skipped,
  createServer: fastifyServer,
});
