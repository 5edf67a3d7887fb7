import { EVENTS, fixtureBytes, READ_FIRST, type RouteName } from '@idem/conformance/http/contract';

/** A Fetch handler, as the adapter under test wraps it. */
export type Handler = (request: Request) => Promise<Response>;

/** What the suite's routes need from the runtime and the adapter under test. */
export interface FetchSuiteApp {
  /** The suite's `HttpTestApp.enter`: every route handler awaits it first. */
  enter(route: RouteName): Promise<number>;
  /** The handler under the mount's idem (every route but `/own`). */
  mount(handler: Handler): Handler;
  /** The handler under `/own`'s options over the mount's. */
  own(handler: Handler): Handler;
}

const encoder = new TextEncoder();

/** A body that arrives in these chunks, one by one (the suite's streamed responses). */
export function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** What `/parsed` reads, the Fetch way by its content type. */
async function parsedBody(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (type.startsWith('application/json')) return request.json();
  if (type.startsWith('text/plain')) return request.text();
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(await request.text()));
  }
  return [...new Uint8Array(await request.arrayBuffer())];
}

/**
 * The HTTP conformance suite's routes (`@idem/conformance/http/contract`) as
 * one Fetch handler, Web APIs only, so every runtime serves the same app.
 * `READ_FIRST` is honoured the Fetch way: code before idem reads a clone of
 * the request, as a signature check in front of a handler would.
 */
export function suiteFetchHandler(app: FetchSuiteApp): (request: Request) => Promise<Response> {
  const echo =
    (route: 'echo' | 'own'): Handler =>
    async (request) => {
      const run = await app.enter(route);
      const body = new Uint8Array(await request.arrayBuffer());
      const headers = new Headers({
        'content-type': request.headers.get('content-type') ?? 'application/octet-stream',
        'x-run': String(run),
        'set-cookie': `run=${run}`,
      });
      headers.append('x-multi', 'one');
      headers.append('x-multi', 'two');
      const status = Number(new URL(request.url).searchParams.get('status') ?? 200);
      return new Response(status === 204 || status === 304 ? null : body, { status, headers });
    };
  const routes: Record<string, Handler> = {
    '/echo': app.mount(echo('echo')),
    '/own': app.own(echo('own')),
    '/bytes': app.mount(async (request) => {
      await app.enter('bytes');
      const query = new URL(request.url).searchParams;
      const bytes = fixtureBytes(Number(query.get('size')));
      const chunk = Number(query.get('chunk') ?? 0);
      const headers = { 'content-type': 'application/octet-stream' };
      if (!chunk) return new Response(bytes as Uint8Array<ArrayBuffer>, { headers });
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < bytes.byteLength; at += chunk) {
        chunks.push(bytes.subarray(at, at + chunk));
      }
      return new Response(streamOf(chunks), { headers });
    }),
    '/events': app.mount(async () => {
      await app.enter('events');
      return new Response(streamOf(EVENTS.map((e) => encoder.encode(e))), {
        headers: { 'content-type': 'text/event-stream' },
      });
    }),
    '/empty': app.mount(async () => {
      await app.enter('empty');
      return new Response(null, { status: 204 });
    }),
    '/parsed': app.mount(async (request) => {
      const run = await app.enter('parsed');
      return Response.json(
        { body: await parsedBody(request) },
        { headers: { 'x-run': String(run) } },
      );
    }),
    '/throw': app.mount(async (request) => {
      await app.enter('throw');
      if (new URL(request.url).searchParams.get('async')) await Promise.resolve();
      throw new Error('boom');
    }),
  };
  return async (request) => {
    const path = new URL(request.url).pathname;
    const route = routes[path.slice(path.lastIndexOf('/'))];
    if (!route) return new Response('not found', { status: 404 });
    try {
      if (path.endsWith('/parsed') && request.headers.has(READ_FIRST)) {
        await parsedBody(request.clone());
      }
      return await route(request);
    } catch {
      // What a runtime answers for a handler that threw, minus its logging: the suite throws on purpose.
      return new Response('Internal Server Error', { status: 500 });
    }
  };
}
