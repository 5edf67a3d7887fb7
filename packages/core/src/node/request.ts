import type { HttpRequest } from '../http/handler.js';

/** The parts of Node's `http.IncomingMessage` idem reads. */
export interface NodeRequestLike {
  readonly method?: string | undefined;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Header names and values as received, alternating: the only place two header lines stay two. */
  readonly rawHeaders: readonly string[];
}

/**
 * Describe a Node request for `HttpIdempotency.handle`.
 *
 * @param url The request target as received, path and query (Express:
 *   `req.originalUrl`, since `req.url` loses the mount path; Fastify: `request.url`).
 * @param body Reads the raw body bytes, at most `limit` of them (see
 *   `HttpRequest.body`); called only for requests idem covers.
 * @param route The route pattern, where the framework knows it (see `HttpRequest.route`).
 */
export function nodeHttpRequest(
  req: NodeRequestLike,
  url: string,
  body: HttpRequest['body'],
  route?: () => string | undefined,
): HttpRequest {
  const q = url.indexOf('?');
  let keyLines: string[] | undefined;
  return {
    method: req.method ?? 'GET',
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    header(name) {
      const value = req.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return typeof value === 'string' ? value : value.join(', ');
    },
    // Found when a key is read from Idempotency-Key, and only then: most
    // requests (methods not covered, keys from elsewhere) never need them.
    get keyLines() {
      if (keyLines === undefined) {
        keyLines = [];
        for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
          if (req.rawHeaders[i]!.toLowerCase() === 'idempotency-key') {
            keyLines.push(req.rawHeaders[i + 1]!);
          }
        }
      }
      return keyLines;
    },
    body,
    ...(route && { route }),
  };
}
