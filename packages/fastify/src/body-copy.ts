import { Readable } from 'node:stream';

/** A request payload stream as Fastify hands it to `preParsing` hooks. */
type Payload = Readable;

/**
 * A copy of the request body as the content-type parser reads it, for the
 * fingerprint. It does not wrap the payload (a second stream per request
 * cost a third of Fastify's throughput): it watches the chunks the payload
 * emits to whoever reads it, in flowing or paused mode, and hands the
 * payload on to the parser untouched.
 */
export class BodyCopy {
  readonly #source: Payload;
  #chunks: Buffer[] = [];
  #keeping = true;
  #error: Error | undefined;
  readonly #emit: Payload['emit'];

  constructor(source: Payload) {
    this.#source = source;
    const emit = source.emit;
    this.#emit = emit;
    const copy = this;
    // Every chunk a reader gets passes through emit('data'); errors and
    // aborts too. The parser, Fastify's or the app's, sees the stream as is.
    source.emit = function (this: Payload, event: string | symbol, ...args: unknown[]) {
      if (event === 'data' && copy.#keeping) {
        const chunk = args[0];
        copy.#chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      } else if (event === 'error') {
        copy.#error ??= args[0] as Error;
      }
      return emit.call(this, event, ...args);
    } as Payload['emit'];
  }

  /**
   * Every byte of the body. When the content-type parser left the payload
   * unread (a parser that hands the stream to the handler), idem reads it
   * now and gives the handler a fresh stream of the same bytes as
   * `request.body`.
   */
  bytes(request: { body: unknown }): Buffer | Promise<Buffer> {
    const source = this.#source;
    if (source.readableEnded) {
      if (this.#error) throw this.#error;
      return this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    }
    return new Promise<void>((resolve, reject) => {
      if (this.#error) return reject(this.#error);
      source.once('end', resolve);
      source.once('error', reject);
      // A client that goes away mid-body closes the request without an 'end'.
      source.once('close', () => {
        if (!source.readableEnded) reject(new Error('the client aborted the request body'));
      });
      source.on('data', () => {});
    }).then(() => {
      const bytes = Buffer.concat(this.#chunks);
      if (request.body === source) request.body = Readable.from([bytes]);
      return bytes;
    });
  }

  /** Drop the copy: idem has decided and will not ask for the bytes again. */
  forget(): void {
    this.#keeping = false;
    this.#chunks = [];
    this.#source.emit = this.#emit;
  }
}
