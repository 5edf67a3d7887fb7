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
  readonly body?: Uint8Array | string | undefined;
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
 * library refuses to send (control characters), and read the answer until
 * the server closes. Many servers refuse such a request in their HTTP parser,
 * before the app sees it: that answer (a bare 400) is returned like any other.
 */
export function sendBytes(base: string, head: string, body = ''): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        Buffer.from(
          `${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          'latin1',
        ),
      );
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    });
  });
}

function parseResponse(raw: Buffer): Reply {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split === -1 ? raw.length : split).toString('latin1');
  let body: Uint8Array = split === -1 ? new Uint8Array(0) : raw.subarray(split + 4);
  const [statusLine = '', ...fields] = head.split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  if (!Number.isInteger(status)) throw new Error(`unparsable response: ${JSON.stringify(head)}`);
  const lines = fields.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  if (lines.some(([n, v]) => n === 'transfer-encoding' && /chunked/i.test(v))) {
    body = dechunk(Buffer.from(body));
  }
  return reply(status, lines, body);
}

function dechunk(data: Buffer): Uint8Array {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
