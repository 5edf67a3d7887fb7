import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HeaderReader,
  type HttpTestApp,
  type TestServer,
} from '@idem/conformance/http';
import type { Context } from 'aws-lambda';
import { idempotency, type LambdaHttpEvent, type LambdaHttpHandler } from '../../src/index.js';
import { type GatewayFormat, invocationContext, toEvent, writeResult } from './gateway.js';

type AnyEvent = {
  headers?: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, string[] | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
};

/** A header of any event format, by any case: what the suite's option functions read. */
export function eventHeaders(event: LambdaHttpEvent): HeaderReader {
  const e = event as AnyEvent;
  return (name) => {
    const lower = name.toLowerCase();
    for (const [n, values] of Object.entries(e.multiValueHeaders ?? {})) {
      if (n.toLowerCase() === lower && values) return values.join(', ');
    }
    for (const [n, value] of Object.entries(e.headers ?? {})) {
      if (n.toLowerCase() === lower) return value;
    }
    return undefined;
  };
}

const query = (event: LambdaHttpEvent, name: string) => {
  const e = event as AnyEvent;
  return e.multiValueQueryStringParameters?.[name]?.[0] ?? e.queryStringParameters?.[name];
};

const bytesOf = (event: LambdaHttpEvent) => {
  const e = event as AnyEvent;
  return Buffer.from(e.body ?? '', e.isBase64Encoded ? 'base64' : 'utf8');
};

/** A structured result in the event's format, with `x-multi` and `set-cookie` sent as the format allows. */
function result(
  format: GatewayFormat,
  status: number,
  headers: Record<string, string>,
  body: Buffer,
  extra: { multi?: boolean; cookie?: string } = {},
) {
  const encoded = status === 204 || status === 304 ? '' : body.toString('base64');
  if (format === 'v2') {
    return {
      statusCode: status,
      headers: { ...headers, ...(extra.multi && { 'x-multi': 'one, two' }) },
      ...(extra.cookie && { cookies: [extra.cookie] }),
      body: encoded,
      isBase64Encoded: true,
    };
  }
  const multiValueHeaders: Record<string, string[]> = {
    ...(extra.multi && { 'x-multi': ['one', 'two'] }),
    ...(extra.cookie && { 'set-cookie': [extra.cookie] }),
  };
  if (format === 'alb-multi') {
    for (const [name, value] of Object.entries(headers)) multiValueHeaders[name] = [value];
    return {
      statusCode: status,
      statusDescription: String(status),
      multiValueHeaders,
      body: encoded,
      isBase64Encoded: true,
    };
  }
  // Payload 1.0: single headers and repeated ones side by side, as handlers write them.
  return { statusCode: status, headers, multiValueHeaders, body: encoded, isBase64Encoded: true };
}

/** What `/parsed` reads, by content type, from the event's body. */
function parsed(event: LambdaHttpEvent): unknown {
  const type = eventHeaders(event)('content-type') ?? '';
  const text = bytesOf(event).toString('utf8');
  if (type.startsWith('application/json')) return JSON.parse(text);
  if (type.startsWith('text/plain')) return text;
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  return [...bytesOf(event)];
}

/**
 * The HTTP conformance suite's routes as Lambda handlers behind a local
 * gateway of `format`: a node:http server that turns each request into the
 * event API Gateway (payload 1.0 or 2.0) or an ALB would send, invokes the
 * wrapped handler with a context that has `getRemainingTimeInMillis`, and
 * writes its result back the way the gateway would.
 */
export function lambdaServer(format: GatewayFormat) {
  return async ({ options, routeOptions, enter }: HttpTestApp): Promise<TestServer> => {
    const idem = idempotency(frameworkOptions(options, eventHeaders));
    const own = idem.route(frameworkOptions(routeOptions, eventHeaders));
    const echo =
      (name: 'echo' | 'own'): LambdaHttpHandler =>
      async (event) => {
        const run = await enter(name);
        const type = eventHeaders(event)('content-type') ?? 'application/octet-stream';
        return result(
          format,
          Number(query(event, 'status') ?? 200),
          { 'content-type': type, 'x-run': String(run) },
          bytesOf(event),
          { multi: true, cookie: `run=${run}` },
        );
      };
    const octets = { 'content-type': 'application/octet-stream' };
    const routes: Record<string, (event: LambdaHttpEvent, context: Context) => unknown> = {
      echo: idem(echo('echo')),
      own: own(echo('own')),
      // Lambda buffers every result (no response streaming here): `?chunk` has nothing to stream.
      bytes: idem(async (event) => {
        await enter('bytes');
        return result(format, 200, octets, Buffer.from(fixtureBytes(Number(query(event, 'size')))));
      }),
      events: idem(async () => {
        await enter('events');
        const body = Buffer.from(EVENTS.join(''));
        return result(format, 200, { 'content-type': 'text/event-stream' }, body);
      }),
      empty: idem(async () => {
        await enter('empty');
        return result(format, 204, {}, Buffer.alloc(0));
      }),
      // READ_FIRST needs nothing here: a body read before idem is still in the event, whole.
      parsed: idem(async (event) => {
        const run = await enter('parsed');
        const body = Buffer.from(JSON.stringify({ body: parsed(event) }));
        return result(
          format,
          200,
          { 'content-type': 'application/json', 'x-run': String(run) },
          body,
        );
      }),
      throw: idem(async (event) => {
        await enter('throw');
        if (query(event, 'async')) await Promise.resolve();
        throw new Error('boom');
      }),
    };
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const path = new URL(req.url ?? '/', 'http://gateway').pathname;
      const route = routes[path.slice(path.lastIndexOf('/') + 1)];
      if (!route) {
        res.writeHead(404).end('not found');
        return;
      }
      try {
        const event = toEvent(format, req, Buffer.concat(chunks));
        // Lambda's longest timeout (15 minutes): the suite's own leases (up to 40 s) stay uncut.
        writeResult(format, await route(event, invocationContext(900_000)), res);
      } catch {
        // What the gateway answers when the function fails.
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end('{"message":"Internal server error"}');
      }
    });
    server.listen(0, '127.0.0.1');
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
