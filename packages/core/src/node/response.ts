import { isNullBodyStatus } from '../http/body.js';
import type { HttpResponse } from '../http/handler.js';

/** A Node header value as `getHeaders()` reports it. */
export type NodeHeaderValue = string | number | readonly string[];

/**
 * The parts of Node's `http.ServerResponse` idem uses. Methods are declared
 * with method syntax so a real `ServerResponse` (or a framework's subclass)
 * fits without casts.
 */
export interface NodeResponseLike {
  statusCode: number;
  statusMessage: string;
  readonly headersSent: boolean;
  getHeaders(): Record<string, NodeHeaderValue | undefined>;
  getHeaderNames(): string[];
  setHeader(name: string, value: NodeHeaderValue): unknown;
  removeHeader(name: string): void;
  writeHead(...args: unknown[]): unknown;
  write(...args: unknown[]): boolean;
  end(...args: unknown[]): unknown;
  flushHeaders(): void;
  on(event: 'close', listener: () => void): unknown;
}

/**
 * Header lines of a Node response as `getHeaders()` (or Fastify's
 * `reply.getHeaders()`) reports them: one line per value, repeats
 * (`set-cookie` arrays) kept.
 */
export function nodeHeaderLines(
  headers: Readonly<Record<string, NodeHeaderValue | undefined>>,
): Array<[string, string]> {
  const lines: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) lines.push([name, String(v)]);
    else lines.push([name, String(value)]);
  }
  return lines;
}

/**
 * Send a replay or a problem on a Node response. Headers set earlier on the
 * response (by middleware that ran before idem) stay unless the stored
 * response names them too; `Content-Length` is recomputed by Node.
 */
export function sendNodeResponse(res: NodeResponseLike, response: HttpResponse): void {
  res.statusCode = response.status;
  setHeaders(res, response.headers);
  if (isNullBodyStatus(response.status)) res.end();
  else res.end(response.body);
}

/** Set header lines on a response, repeated names as one array. */
export function setHeaders(
  res: NodeResponseLike,
  headers: Iterable<readonly [string, string]>,
): void {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const list = grouped.get(name);
    if (list) list.push(value);
    else grouped.set(name, [value]);
  }
  for (const [name, values] of grouped)
    res.setHeader(name, values.length === 1 ? values[0]! : values);
}
