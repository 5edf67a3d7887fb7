const encoder = new TextEncoder();

/** What @hono/node-server sends as the type of a body given without headers. */
const DEFAULT_TYPE = 'text/plain; charset=UTF-8';

/** A response as the handler built it, read without consuming or rebuilding it. */
export interface Unread {
  readonly body: Uint8Array;
  readonly headers: Iterable<readonly [string, string]>;
  header(name: string): string | null;
}

/**
 * The body and headers of a response from @hono/node-server's lightweight
 * `Response`, without reading it. That class keeps what it was built with (a
 * string or bytes, and a header record) in a symbol-keyed cache; reading
 * `res.body` or `res.headers` would build a real Response, a stream and a
 * `Headers` around them, a third of the cost of a small request. Anything else
 * (a real Response, a stream body, unusual headers) returns `undefined`, and
 * the response is read the standard way.
 */
export function peek(res: Response): Unread | undefined {
  for (const symbol of Object.getOwnPropertySymbols(res)) {
    if (symbol.description !== 'cache') continue;
    const cache = (res as unknown as Record<symbol, unknown>)[symbol];
    if (!Array.isArray(cache) || cache[0] !== res.status) return undefined;
    const [, raw, init] = cache as [number, unknown, unknown];
    const body =
      raw === null
        ? new Uint8Array(0)
        : typeof raw === 'string'
          ? encoder.encode(raw)
          : raw instanceof Uint8Array
            ? raw
            : undefined;
    if (body === undefined) return undefined;
    // A header record (Hono's c.json() without c.header()) is read without
    // building a Headers; headers already built are read as they are. No
    // headers at all (Hono's c.text()) means node-server's default type.
    const entries =
      init === undefined
        ? raw === null
          ? []
          : [['content-type', DEFAULT_TYPE] as [string, string]]
        : init && typeof init === 'object' && !(init instanceof Headers) && !Array.isArray(init)
          ? Object.entries(init)
          : undefined;
    if (entries ? !entries.every((e) => typeof e[1] === 'string') : !(init instanceof Headers)) {
      return undefined;
    }
    return {
      body,
      headers: entries ?? res.headers,
      header: (name) =>
        entries
          ? (entries.find(([n]) => n.toLowerCase() === name)?.[1] ?? null)
          : res.headers.get(name),
    };
  }
  return undefined;
}
