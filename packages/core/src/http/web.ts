import { type CapturedBody, captureBody, isNullBodyStatus, streamsThrough } from './body.js';
import type { HttpExecution, HttpResponse } from './handler.js';

/**
 * A Fetch `Response` for an answer core decided (a replay or a problem).
 * Headers go in as a plain record when no name repeats (Hono's own
 * responses use one, and @hono/node-server writes it without building a
 * `Headers`), as a `Headers` with every line appended otherwise.
 */
export function webResponse(response: HttpResponse): Response {
  const body = isNullBodyStatus(response.status)
    ? null
    : (response.body as Uint8Array<ArrayBuffer>);
  return new Response(body, { status: response.status, headers: headersInit(response.headers) });
}

function headersInit(lines: HttpResponse['headers']): HeadersInit {
  const record: Record<string, string> = Object.create(null);
  for (const [name, value] of lines) {
    if (name in record) {
      const headers = new Headers();
      for (const [n, v] of lines) headers.append(n, v);
      return headers;
    }
    record[name] = value;
  }
  return record;
}

/**
 * A handler's response as a Web adapter hands it to {@link settleWebResponse}.
 * `unread` is for an adapter whose framework can tell the body and headers
 * without reading the response (a lightweight `Response` that keeps what it
 * was built with): core then neither reads nor rebuilds it.
 */
export interface WebOutcome {
  readonly response: Response;
  readonly unread?: {
    readonly body: Uint8Array;
    readonly headers: Iterable<readonly [string, string]>;
    header(name: string): string | null;
  };
}

/**
 * What a handler that ran under an `execute` decision came to, as a Web
 * adapter saw it: it threw (or its framework caught what it threw), or it
 * answered.
 */
export type WebSettlement = { readonly threw: true } | WebOutcome;

/**
 * Carry out an `execute` decision once its handler is done, for adapters
 * whose handlers answer with a Fetch `Response` (Hono, `@idem/web`). Core
 * decides, in this order: a handler that threw releases the key (resolves to
 * `undefined`: the adapter rethrows, or lets its framework answer the error);
 * a response too large or never-ending (`text/event-stream`) to buffer goes
 * out untouched, recorded as run without its response; any other is read
 * whole, stored, and sent; a body stream that breaks while read releases the
 * key and rejects with its error. Resolves to the response to send: the
 * handler's, or the `503` problem core sends instead when a transactional
 * store rolled the handler's writes back.
 *
 * @param limit The engine's `maxResponseBytes` ({@link HttpIdempotency.maxResponseBytes}).
 */
export async function settleWebResponse(
  execution: HttpExecution,
  settlement: WebSettlement,
  limit: number,
): Promise<Response | undefined> {
  if ('threw' in settlement) {
    await execution.release();
    return undefined;
  }
  const { response: res, unread } = settlement;
  const header = (name: string) => (unread ? unread.header(name) : res.headers.get(name));
  if (
    streamsThrough(header('content-type'), header('content-length'), limit) ||
    (unread !== undefined && unread.body.byteLength > limit)
  ) {
    const instead = await execution.complete({
      status: res.status,
      headers: unread?.headers ?? res.headers,
      body: null,
    });
    if (!instead) return res;
    await res.body?.cancel();
    return webResponse(instead);
  }
  if (unread !== undefined) {
    const instead = await execution.complete({
      status: res.status,
      headers: unread.headers,
      body: unread.body,
    });
    return instead ? webResponse(instead) : res;
  }
  let captured: CapturedBody;
  try {
    captured = await captureBody(res.body, limit);
  } catch (error) {
    // The handler's body stream broke: there is no whole response to keep.
    await execution.release();
    throw error;
  }
  const instead = await execution.complete({
    status: res.status,
    headers: res.headers,
    body: captured.bytes,
  });
  if (instead) {
    if (captured.bytes === null) await captured.stream.cancel();
    return webResponse(instead);
  }
  const body =
    captured.bytes === null
      ? captured.stream
      : isNullBodyStatus(res.status)
        ? null
        : captured.bytes;
  return new Response(body as BodyInit | null, res);
}
