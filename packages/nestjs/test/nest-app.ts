import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  READ_FIRST,
  type TestServer,
} from '@idem/conformance/http';
import {
  All,
  Controller,
  HttpCode,
  type INestApplication,
  Module,
  Post,
  Query,
  Req,
  Res,
  StreamableFile,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { IdempotencyModule, Idempotent } from '../src/index.js';

/** The two platforms Nest runs on. */
export type Platform = 'express' | 'fastify';

/** The request and response as a handler with `@Req()` and `@Res()` gets them, on either platform. */
export interface AnyRequest {
  readonly headers: IncomingMessage['headers'];
  readonly raw?: IncomingMessage;
  readonly body?: unknown;
  readonly rawBody?: Buffer;
}
/** Express's response and Fastify's reply both have `header()`. */
interface HeaderSetter {
  header(name: string, value: string): unknown;
}
export interface AnyResponse {
  readonly raw?: ServerResponse;
  hijack?(): void;
}

const LIMIT = 16 * 1024 * 1024;

/** Reads a request header, on either platform. */
export const headersOf =
  (req: AnyRequest) =>
  (name: string): string | undefined => {
    const value = req.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };

/**
 * The body bytes as the handler reads them: the bytes Nest kept
 * (`rawBody: true`), a body a parser left as bytes or text, or the stream
 * (on Express, idem hands it back unread when it read it first).
 */
async function bodyBytes(req: AnyRequest): Promise<Buffer> {
  if (req.rawBody) return req.rawBody;
  if (Buffer.isBuffer(req.body)) return req.body;
  if (typeof req.body === 'string') return Buffer.from(req.body);
  const raw = req.raw ?? (req as unknown as IncomingMessage);
  const chunks: Buffer[] = [];
  for await (const chunk of raw) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The Node response a handler writes itself on; Fastify's reply is hijacked first. */
export function nodeResponse(res: AnyResponse): ServerResponse {
  if (!res.raw) return res as unknown as ServerResponse;
  res.hijack?.();
  return res.raw;
}

const contentType = (req: AnyRequest) => String(req.headers['content-type'] ?? '');
const isText = (req: AnyRequest) => contentType(req).startsWith('text/plain');
const isJson = (req: AnyRequest) => contentType(req).startsWith('application/json');
const isForm = (req: AnyRequest) =>
  contentType(req).startsWith('application/x-www-form-urlencoded');

/**
 * The HTTP suite's route contract as a Nest application on `platform`,
 * created with `rawBody: true`: Nest's parsers read JSON and forms before
 * any interceptor and keep their bytes. Every route is covered
 * (`allRoutes`); `/own` has its own `@Idempotent()` options over the
 * module's. Handlers answer through `@Res()` (Express's response or
 * Fastify's reply), a `StreamableFile`, or the value they return.
 */
export function nestServer(platform: Platform): (app: HttpTestApp) => Promise<TestServer> {
  return async ({ options, routeOptions, enter }) => {
    const echo = async (name: 'echo' | 'own', req: AnyRequest, res: unknown, status?: string) => {
      const run = await enter(name);
      const body = await bodyBytes(req);
      const headers: Array<[string, string | string[]]> = [
        ['content-type', contentType(req) || 'application/octet-stream'],
        ['x-run', String(run)],
        ['set-cookie', `run=${run}`],
        ['x-multi', ['one', 'two']],
      ];
      if (platform === 'fastify') {
        const reply = res as {
          code(n: number): unknown;
          header(n: string, v: unknown): unknown;
          send(b: Buffer): unknown;
        };
        reply.code(Number(status ?? 200));
        for (const [name, value] of headers) reply.header(name, value);
        reply.send(body);
        return;
      }
      const response = res as ServerResponse;
      response.statusCode = Number(status ?? 200);
      for (const [name, value] of headers) response.setHeader(name, value);
      response.end(body);
    };

    @Controller()
    class ContractController {
      @All('echo')
      echo(@Req() req: AnyRequest, @Res() res: unknown, @Query('status') status?: string) {
        return echo('echo', req, res, status);
      }

      @All('own')
      @Idempotent(frameworkOptions(routeOptions, headersOf))
      own(@Req() req: AnyRequest, @Res() res: unknown, @Query('status') status?: string) {
        return echo('own', req, res, status);
      }

      @Post('bytes')
      @HttpCode(200)
      async bytes(@Query('size') size: string, @Query('chunk') chunk?: string) {
        await enter('bytes');
        const bytes = Buffer.from(fixtureBytes(Number(size)));
        const type = 'application/octet-stream';
        const step = Number(chunk ?? 0);
        if (!step) return new StreamableFile(bytes, { type, length: bytes.length });
        const chunks: Buffer[] = [];
        for (let at = 0; at < bytes.length; at += step) chunks.push(bytes.subarray(at, at + step));
        return new StreamableFile(Readable.from(chunks), { type });
      }

      @Post('events')
      @HttpCode(200)
      async events(@Res() res: AnyResponse) {
        await enter('events');
        const raw = nodeResponse(res);
        raw.setHeader('content-type', 'text/event-stream');
        raw.flushHeaders();
        for (const event of EVENTS) raw.write(event);
        raw.end();
      }

      @Post('empty')
      @HttpCode(204)
      async empty() {
        await enter('empty');
      }

      @Post('throw')
      async throws(@Query('async') async?: string) {
        await enter('throw');
        if (async) await Promise.resolve();
        throw new Error('boom');
      }

      @Post('parsed')
      @HttpCode(200)
      async parsed(@Req() req: AnyRequest, @Res({ passthrough: true }) res: HeaderSetter) {
        const run = await enter('parsed');
        let body: unknown = req.body;
        if (!isJson(req) && !isForm(req)) {
          const bytes = await bodyBytes(req);
          body = isText(req) ? bytes.toString('utf8') : [...bytes];
        }
        res.header('x-run', String(run));
        return { body };
      }
    }

    @Module({
      imports: [
        IdempotencyModule.forRoot({ ...frameworkOptions(options, headersOf), allRoutes: true }),
      ],
      controllers: [ContractController],
    })
    class AppModule {}

    const app = await create(platform, AppModule);
    await app.listen(0, '127.0.0.1');
    const server = app.getHttpServer() as import('node:http').Server;
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        server.closeAllConnections();
        await app.close();
      },
    };
  };
}

/**
 * A Nest application on `platform` with the raw bytes of parsed bodies kept.
 * `/parsed` with READ_FIRST also gets text and bytes read before idem.
 */
export async function create(
  platform: Platform,
  module: Parameters<typeof NestFactory.create>[0],
): Promise<INestApplication> {
  const readFirst = (req: AnyRequest) => req.headers[READ_FIRST] !== undefined;
  // abortOnError: false: an application that cannot start throws instead of ending the process.
  const common = { rawBody: true, logger: false, bodyParser: false, abortOnError: false } as const;
  if (platform === 'express') {
    const app = await NestFactory.create<NestExpressApplication>(
      module,
      new ExpressAdapter(),
      common,
    );
    app.useBodyParser('json', { limit: LIMIT });
    app.useBodyParser('urlencoded', { limit: LIMIT, extended: false });
    app.useBodyParser('text', {
      limit: LIMIT,
      type: (req: IncomingMessage) => readFirst(req) && isText(req),
    });
    app.useBodyParser('raw', {
      limit: LIMIT,
      type: (req: IncomingMessage) =>
        readFirst(req) && !isText(req) && !isJson(req) && !isForm(req),
    });
    return app;
  }
  const app = await NestFactory.create<NestFastifyApplication>(
    module,
    // The suite sends arbitrary JSON objects, `__proto__` keys included,
    // which Fastify's JSON parser refuses by default (a 400 before idem).
    new FastifyAdapter({
      bodyLimit: LIMIT,
      onProtoPoisoning: 'ignore',
      onConstructorPoisoning: 'ignore',
    }),
    { ...common, bodyParser: true },
  );
  // Fastify reads every body before any hook Nest runs: everything that is
  // not JSON, a form or text, as bytes.
  app
    .getHttpAdapter()
    .getInstance()
    .addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: LIMIT }, (_req, body, done) =>
      done(null, body),
    );
  return app;
}
