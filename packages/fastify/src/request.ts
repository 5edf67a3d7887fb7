import type { HttpRequest } from '@idem/core/http';
import type { FastifyRequest } from 'fastify';

/**
 * A Fastify request as core reads it: method, path, query, headers, the
 * `Idempotency-Key` lines and, once the content-type parser has run, the
 * body bytes. One instance serves both hooks (preParsing asks core before
 * the body, preHandler after it), and all but `header` live on the
 * prototype: an object literal with a getter, two closures and a spread,
 * built twice per request, was the adapter's largest cost of its own in
 * profiles.
 */
export class FastifyHttpRequest implements HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  /**
   * The body bytes, as `body()` returns them; set by preHandler (before it,
   * the body is not read and core does not ask for it).
   */
  bytes: () => Uint8Array | Promise<Uint8Array> = notRead;
  readonly #request: FastifyRequest;
  #keyLines: string[] | undefined;

  constructor(request: FastifyRequest) {
    this.#request = request;
    const { headers } = request;
    this.header = (name) => {
      const value = headers[name.toLowerCase()];
      if (value === undefined) return null;
      return typeof value === 'string' ? value : value.join(', ');
    };
    const { url } = request;
    const q = url.indexOf('?');
    this.method = request.method;
    this.path = q === -1 ? url : url.slice(0, q);
    this.query = q === -1 ? '' : url.slice(q + 1);
  }

  /**
   * A header's value. An own function, not a method: core (and an app's key
   * or fingerprint function) may call it detached from the request.
   */
  readonly header: (name: string) => string | null;

  /** Found when a key is read from Idempotency-Key, and only then (Node's rawHeaders keep repeated lines apart). */
  get keyLines(): readonly string[] {
    if (this.#keyLines === undefined) {
      const lines: string[] = [];
      const raw = this.#request.raw.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i]!;
        // Compare the length first: most header names are not even that long.
        if (name.length === 15 && name.toLowerCase() === 'idempotency-key') lines.push(raw[i + 1]!);
      }
      this.#keyLines = lines;
    }
    return this.#keyLines;
  }

  body(): Uint8Array | Promise<Uint8Array> {
    return this.bytes();
  }

  route(): string | undefined {
    return this.#request.routeOptions.url;
  }
}

function notRead(): never {
  throw new Error('idem: the body is not read before the content-type parser.');
}
