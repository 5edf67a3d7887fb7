import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

/** A response as the suite compares it. */
export interface Reply {
  readonly status: number;
  /** Header lines, names lower-cased, in the order the client saw them. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
  /** A header's value (repeated lines joined by `, `), or `undefined`. */
  header(name: string): string | undefined;
  text(): string;
}

function reply(status: number, headers: Array<[string, string]>, body: Uint8Array): Reply {
  return {
    status,
    headers,
    body,
    header(name) {
      const values = headers.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v);
      return values.length === 0 ? undefined : values.join(', ');
    },
    text: () => new TextDecoder().decode(body),
  };
}

/** What {@link send} sends. */
export interface Send {
  readonly method?: string;
  /** The `Idempotency-Key` header value; omitted when `undefined`. */
  readonly key?: string | undefined;
  /** A stream is sent chunked, without `Content-Length`. */
  readonly body?: Uint8Array | string | ReadableStream<Uint8Array> | undefined;
  readonly contentType?: string | undefined;
  readonly headers?: Readonly<Record<string, string>>;
  /** Aborts the request (for duplicates that must not wait forever). */
  readonly signal?: AbortSignal;
}

/** Send one request with the platform's `fetch`. */
export async function send(base: string, path: string, init: Send = {}): Promise<Reply> {
  const method = init.method ?? 'POST';
  const headers = new Headers(init.headers);
  if (init.key !== undefined) headers.set('idempotency-key', init.key);
  if (init.contentType !== undefined) headers.set('content-type', init.contentType);
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const response = await fetch(base + path, {
    method,
    headers,
    ...(hasBody && init.body !== undefined ? { body: init.body as BodyInit } : {}),
    ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const body = new Uint8Array(await response.arrayBuffer());
  const lines: Array<[string, string]> = [];
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') lines.push([name, value]);
  }
  for (const cookie of response.headers.getSetCookie()) lines.push(['set-cookie', cookie]);
  return reply(response.status, lines, body);
}

/**
 * Send one request with `node:http`, for what `fetch` cannot send: a header
 * repeated on two lines (an array value), or Latin-1 bytes in a value.
 */
export function sendRaw(
  base: string,
  path: string,
  init: {
    method?: string;
    headers: Record<string, string | string[]>;
    body?: Uint8Array | string;
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      base + path,
      { method: init.method ?? 'POST', headers: init.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const lines: Array<[string, string]> = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
            lines.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
          }
          resolve(reply(res.statusCode ?? 0, lines, Buffer.concat(chunks)));
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * Write a request byte for byte on a socket, for header values a client
 * library refuses to send (control characters), and read the answer. Many
 * servers refuse such a request in their HTTP parser, before the app sees it:
 * that answer (a bare 400) is returned like any other.
 *
 * It resolves as soon as the response is complete (by its `Content-Length`,
 * its chunked terminator, or a status that has no body), not when the server
 * closes the connection: some keep it open for seconds despite
 * `Connection: close` (workerd). A response with no framing at all ends when
 * the server closes. When nothing arrives for `timeoutMs` before the response
is complete, it rejects.
 */
export function sendBytes(
  base: string,
  head: string,
  body = '',
  timeoutMs = 10_000,
): Promise<Reply> {
  const { hostname, port } = new URL(base);
  const method = head.slice(0, head.indexOf(' '));
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    let settled = false;
    const settle = (outcome: () => Reply) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      try {
        resolve(outcome());
      } catch (error) {
        reject(error);
      }
    };
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        Buffer.from(
          `${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          'latin1',
        ),
      );
    });
    socket.setTimeout(timeoutMs, () =>
      settle(() => {
        throw new Error(
          `sendBytes: the connection went quiet for ${timeoutMs} ms before a complete response; got ${JSON.stringify(data.subarray(0, 300).toString('latin1'))}`,
        );
      }),
    );
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const reply = completeResponse(data, method);
      if (reply) settle(() => reply);
    });
    // The server closed (or reset) the connection: what arrived is the answer.
    // A server that refuses a request may reset the socket right after its
    // 400, so an error with a whole status line and head still counts.
    const closed = (error?: Error) =>
      settle(() => {
        if (data.byteLength === 0 && error) throw error;
        return parseResponse(data, method, true);
      });
    socket.on('end', () => closed());
    socket.on('error', (error) => closed(error));
    socket.on('close', () => closed());
  });
}

/** Statuses whose responses never have a body (RFC 9112 §6.3). */
const BODILESS = (status: number) =>
  (status >= 100 && status < 200) || status === 204 || status === 304;

/** The response in `raw` when it is complete, else `undefined`. */
function completeResponse(raw: Buffer, method: string): Reply | undefined {
  try {
    return parseResponse(raw, method, false);
  } catch {
    return undefined;
  }
}

/**
 * Parse one HTTP/1.1 response, skipping interim (1xx) ones. With `closed`
 * false, throws unless the response is complete; with `closed` true (the
 * connection ended), takes whatever body arrived.
 */
function parseResponse(raw: Buffer, method: string, closed: boolean): Reply {
  const split = raw.indexOf('\r\n\r\n');
  if (split === -1 && !closed) throw new Error('incomplete head');
  const head = raw.subarray(0, split === -1 ? raw.length : split).toString('latin1');
  const rest = split === -1 ? Buffer.alloc(0) : raw.subarray(split + 4);
  const [statusLine = '', ...fields] = head.split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  if (!/^HTTP\/\d(\.\d)? /.test(statusLine) || !Number.isInteger(status)) {
    throw new Error(`unparsable response: ${JSON.stringify(head.slice(0, 300))}`);
  }
  if (status >= 100 && status < 200 && split !== -1) return parseResponse(rest, method, closed);
  const lines = fields.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const field = (name: string) => lines.find(([n]) => n === name)?.[1];
  if (BODILESS(status) || method === 'HEAD') return reply(status, lines, new Uint8Array(0));
  if (/chunked/i.test(field('transfer-encoding') ?? '')) {
    const chunks = dechunk(rest);
    if (!chunks.complete && !closed) throw new Error('incomplete chunked body');
    return reply(status, lines, chunks.body);
  }
  const length = field('content-length');
  if (length !== undefined) {
    const size = Number(length);
    if (rest.byteLength < size && !closed) throw new Error('incomplete body');
    return reply(status, lines, rest.subarray(0, size));
  }
  // No framing: the body runs until the server closes the connection.
  if (!closed) throw new Error('body delimited by close');
  return reply(status, lines, rest);
}

/** Decode a chunked body; `complete` once the last (zero-size) chunk and its trailers arrived. */
function dechunk(data: Buffer): { body: Uint8Array; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) break;
    // A chunk size may carry extensions after a `;`.
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isInteger(size) || size < 0) break;
    if (size === 0) {
      // Trailer fields, if any, then the empty line that ends the message.
      return { body: Buffer.concat(parts), complete: data.indexOf('\r\n\r\n', eol) !== -1 };
    }
    if (data.byteLength < eol + 2 + size + 2) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return { body: Buffer.concat(parts), complete: false };
}
