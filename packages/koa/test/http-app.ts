import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  READ_FIRST,
  type TestServer,
} from '@idem/conformance/http';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa, { type Context, type Middleware, type Next } from 'koa';
import { idempotency } from '../src/index.js';

const TEXTUAL = ['application/json', 'text/plain', 'application/x-www-form-urlencoded'];

/** Anything `@koa/bodyparser` does not parse, read as bytes (it has no raw parser of its own). */
async function rawBytes(ctx: Context, next: Next): Promise<void> {
  if (ctx.request.body === undefined && !ctx.is(TEXTUAL)) {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    ctx.request.body = Buffer.concat(chunks);
  }
  await next();
}

/** The parsers `/parsed` reads its body with; each skips a body another one already read. */
const parsers: Middleware[] = [rawBytes, bodyParser({ enableTypes: ['json', 'form', 'text'] })];

/** `middleware` on requests for `path` that `when` accepts only. */
const only =
  (path: string, when: (ctx: Context) => boolean, middleware: Middleware[]): Middleware =>
  async (ctx, next) => {
    if (ctx.path !== path || !when(ctx)) return next();
    let at = 0;
    const step = async (): Promise<void> => {
      const own = middleware[at++];
      return own ? own(ctx, step) : next();
    };
    return step();
  };

/**
 * The suite's route contract on Koa 3 with @koa/router, with no body parser
 * but on `/parsed`: idem reads the raw stream. `/parsed` with READ_FIRST has
 * the parsers mounted before idem; without it, after.
 */
export async function koaServer({
  options,
  routeOptions,
  enter,
}: HttpTestApp): Promise<TestServer> {
  const app = new Koa();
  app.silent = true;
  app.use(only('/parsed', (ctx) => ctx.get(READ_FIRST) !== '', parsers));
  const headersOf = (ctx: Context) => (name: string) => ctx.get(name) || undefined;
  const idem = idempotency(frameworkOptions(options, headersOf));
  // The mount on every route but `/own`, which takes idem.route() instead.
  app.use((ctx, next) => (ctx.path === '/own' ? next() : idem(ctx, next)));
  const router = new Router();
  const echo = (name: 'echo' | 'own') => async (ctx: Context) => {
    const run = await enter(name);
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    ctx.status = Number(ctx.query.status ?? 200);
    ctx.set('content-type', ctx.get('content-type') || 'application/octet-stream');
    ctx.set('x-run', String(run));
    ctx.set('set-cookie', `run=${run}`);
    ctx.set('x-multi', ['one', 'two']);
    ctx.body = Buffer.concat(chunks);
  };
  router.all('/echo', echo('echo'));
  router.all('/own', idem.route(frameworkOptions(routeOptions, headersOf)), echo('own'));
  router.post('/bytes', async (ctx) => {
    await enter('bytes');
    const bytes = Buffer.from(fixtureBytes(Number(ctx.query.size)));
    ctx.type = 'application/octet-stream';
    const chunk = Number(ctx.query.chunk ?? 0);
    if (!chunk) {
      ctx.body = bytes;
      return;
    }
    // A stream body: Koa pipes it, in these writes, without a Content-Length.
    ctx.body = Readable.from(
      (function* () {
        for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
      })(),
    );
  });
  router.post('/events', async (ctx) => {
    await enter('events');
    ctx.type = 'text/event-stream';
    const events = new PassThrough();
    ctx.body = events;
    for (const event of EVENTS) events.write(event);
    events.end();
  });
  router.post('/empty', async (ctx) => {
    await enter('empty');
    ctx.status = 204;
  });
  router.post('/parsed', ...parsers, async (ctx) => {
    const run = await enter('parsed');
    const body: unknown = ctx.request.body;
    ctx.set('x-run', String(run));
    ctx.body = { body: Buffer.isBuffer(body) ? [...body] : body };
  });
  router.post('/throw', async (ctx) => {
    await enter('throw');
    if (ctx.query.async) await Promise.resolve();
    throw new Error('boom');
  });
  app.use(router.routes());
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
