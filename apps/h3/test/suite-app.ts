import {
  EVENTS,
  fixtureBytes,
  frameworkOptions,
  type HttpTestApp,
  READ_FIRST,
  type TestServer,
} from '@idem/conformance/http';
import { streamOf } from '@idem/test-runtimes';
import { idempotency } from '@idem/web';
import { getQuery, H3, type H3Event, type HTTPEvent, noContent, readBody, serve } from 'h3';
import { idempotent } from '../src/idempotent.ts';

const encoder = new TextEncoder();

/** What `/parsed` reads, h3's usual way by the content type. */
async function parsedBody({ req }: HTTPEvent): Promise<unknown> {
  const type = req.headers.get('content-type') ?? '';
  // readBody parses JSON and form fields; text and bytes come from the Request itself.
  if (type.startsWith('application/json')) return readBody({ req });
  if (type.startsWith('text/plain')) return req.text();
  if (type.startsWith('application/x-www-form-urlencoded')) return readBody({ req });
  return [...new Uint8Array(await req.arrayBuffer())];
}

const headersOf = (request: Request) => (name: string) => request.headers.get(name) ?? undefined;

/**
 * The suite's route contract as an h3 v2 app, served on Node by h3's `serve`
 * (srvx): idem on every route but `/own` through `app.use`, and `/own` with
 * `.route()` in its own route `middleware`, both by `idempotent()` of
 * src/idempotent.ts, the glue docs/runtimes/h3.md shows.
 */
export async function h3Server({ options, routeOptions, enter }: HttpTestApp): Promise<TestServer> {
  // silent: h3 logs every unhandled error, and the suite throws on purpose.
  const app = new H3({ silent: true });
  // Code before idem that reads the body, as a signature check does. A
  // Request's body reads once and h3 keeps no copy, so it reads a clone.
  app.use('/parsed', async (event) => {
    if (event.req.headers.has(READ_FIRST)) await parsedBody({ req: event.req.clone() });
  });
  const idem = idempotency(frameworkOptions(options, headersOf));
  app.use(idempotent(idem), { match: (event) => event.url.pathname !== '/own' });
  const echo = (route: 'echo' | 'own') => async (event: H3Event) => {
    const run = await enter(route);
    const body = new Uint8Array(await event.req.arrayBuffer());
    const headers = event.res.headers;
    headers.set(
      'content-type',
      event.req.headers.get('content-type') ?? 'application/octet-stream',
    );
    headers.set('x-run', String(run));
    headers.set('set-cookie', `run=${run}`);
    headers.append('x-multi', 'one');
    headers.append('x-multi', 'two');
    event.res.status = Number(getQuery(event).status ?? 200);
    return body;
  };
  app.all('/echo', echo('echo'));
  app.all('/own', echo('own'), {
    middleware: [idempotent(idem.route(frameworkOptions(routeOptions, headersOf)))],
  });
  app.post('/bytes', async (event) => {
    await enter('bytes');
    const query = getQuery(event);
    const bytes = fixtureBytes(Number(query.size));
    const chunk = Number(query.chunk ?? 0);
    event.res.headers.set('content-type', 'application/octet-stream');
    if (!chunk) return bytes;
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.byteLength; at += chunk) {
      chunks.push(bytes.subarray(at, at + chunk));
    }
    return streamOf(chunks);
  });
  app.post('/events', async (event) => {
    await enter('events');
    event.res.headers.set('content-type', 'text/event-stream');
    return streamOf(EVENTS.map((e) => encoder.encode(e)));
  });
  app.post('/empty', async () => {
    await enter('empty');
    return noContent();
  });
  app.post('/parsed', async (event) => {
    const run = await enter('parsed');
    event.res.headers.set('x-run', String(run));
    return { body: await parsedBody(event) };
  });
  app.post('/throw', async (event) => {
    await enter('throw');
    if (getQuery(event).async) await Promise.resolve();
    throw new Error('boom');
  });
  const server = serve(app, {
    port: 0,
    hostname: '127.0.0.1',
    silent: true,
    gracefulShutdown: false,
  });
  await server.ready();
  return {
    url: new URL(server.url!).origin,
    async close() {
      // Not server.close(): srvx waits there for the work handed to
      // waitUntil, and after a store failure idem gives the lost claim back
      // in the background for up to leaseMs (30 s). It goes on after the
      // close, as in a running process.
      const node = server.node!.server!;
      if ('closeAllConnections' in node) node.closeAllConnections();
      await new Promise<void>((resolve) => node.close(() => resolve()));
    },
  };
}
