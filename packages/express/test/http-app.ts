import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  READ_FIRST,
  type TestServer,
} from '@idem/conformance/http';
import type express5 from 'express';
import type { NextFunction, Request, Response } from 'express';
import { idempotency } from '../src/index.js';

/**
 * The HTTP suite's test app on an Express of either major (5, and 4 as
 * express4): one module, so the everyday file (Express 5) and the deep one
 * (Express 4) run the same app.
 */
export type Express = typeof express5;

// Express 4 does not catch rejected promises: route errors go to next() by hand, as apps do.
const route =
  (handler: (req: Request, res: Response) => Promise<void>) =>
  (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).catch(next);
  };

/**
 * Express's own parsers for `/parsed`, each for its content type, as long as
 * `when` holds (body-parser takes a function of the request as `type`).
 */
function parsers(express: Express, when: (req: Request) => boolean) {
  const json = 'application/json';
  const text = 'text/plain';
  const form = 'application/x-www-form-urlencoded';
  const is =
    (types: string[], match = true) =>
    (req: IncomingMessage) =>
      when(req as Request) && ((req as Request).is(types) !== false) === match;
  return [
    express.json({ type: is([json]) }),
    express.text({ type: is([text]) }),
    express.urlencoded({ extended: false, type: is([form]) }),
    // Anything else as bytes.
    express.raw({ type: is([json, text, form], false) }),
  ];
}

/**
 * The suite's route contract on Express, with no body parser but on
 * `/parsed`: idem reads the raw stream. `/parsed` with READ_FIRST has
 * Express's parsers mounted before idem; without it, after.
 */
export function expressServer(express: Express): (app: HttpTestApp) => Promise<TestServer> {
  return async ({ options, routeOptions, enter }: HttpTestApp) => {
    const app = express();
    app.use(
      '/parsed',
      parsers(express, (req) => req.get(READ_FIRST) !== undefined),
    );
    const headersOf = (req: Request) => (name: string) => req.get(name);
    const idem = idempotency(frameworkOptions(options, headersOf));
    // The mount on every route but `/own`, which takes idem.route() instead.
    app.use((req, res, next) => (req.path === '/own' ? next() : idem(req, res, next)));
    const echo = (name: 'echo' | 'own') =>
      route(async (req, res) => {
        const run = await enter(name);
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        res.setHeader('content-type', req.get('content-type') ?? 'application/octet-stream');
        res.setHeader('x-run', String(run));
        res.setHeader('set-cookie', `run=${run}`);
        res.setHeader('x-multi', ['one', 'two']);
        res.status(Number(req.query.status ?? 200)).send(Buffer.concat(chunks));
      });
    app.all('/echo', echo('echo'));
    app.all('/own', idem.route(frameworkOptions(routeOptions, headersOf)), echo('own'));
    app.post(
      '/bytes',
      route(async (req, res) => {
        await enter('bytes');
        const bytes = Buffer.from(fixtureBytes(Number(req.query.size)));
        res.setHeader('content-type', 'application/octet-stream');
        const chunk = Number(req.query.chunk ?? 0);
        if (!chunk) {
          res.send(bytes);
          return;
        }
        for (let at = 0; at < bytes.length; at += chunk) res.write(bytes.subarray(at, at + chunk));
        res.end();
      }),
    );
    app.post(
      '/events',
      route(async (_req, res) => {
        await enter('events');
        res.setHeader('content-type', 'text/event-stream');
        res.flushHeaders();
        for (const event of EVENTS) res.write(event);
        res.end();
      }),
    );
    app.post(
      '/empty',
      route(async (_req, res) => {
        await enter('empty');
        res.sendStatus(204);
      }),
    );
    app.post(
      '/parsed',
      // Body parsers skip a body another one already read.
      parsers(express, () => true),
      route(async (req, res) => {
        const run = await enter('parsed');
        const body: unknown = req.body;
        res.setHeader('x-run', String(run));
        res.json({ body: Buffer.isBuffer(body) ? [...body] : body });
      }),
    );
    app.post(
      '/throw',
      route(async (req) => {
        await enter('throw');
        if (req.query.async) await Promise.resolve();
        throw new Error('boom');
      }),
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        server.closeAllConnections();
        server.close();
      },
    };
  };
}
