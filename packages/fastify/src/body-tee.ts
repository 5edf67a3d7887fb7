import { Readable } from 'node:stream';

/** A request payload stream as Fastify hands it to `preParsing` hooks. */
type Payload = Readable & { receivedEncodedLength?: number };

/**
 * The request payload, passed on to Fastify's content-type parsers byte for
 * byte while a copy is kept for the fingerprint. It reads its source only
 * when a parser reads it, so a parser that never touches the payload leaves
 * the request stream as it found it until idem needs the bytes.
 */
export class BodyTee extends Readable {
  readonly #source: Payload;
  readonly #chunks: Buffer[] = [];
  #started = false;
  #keeping = true;
  #draining = false;
  #ended = false;
  #error: Error | undefined;
  #waiters: Array<() => void> = [];

  constructor(source: Payload) {
    super();
    this.#source = source;
  }

  /** Fastify compares this to Content-Length when an earlier hook decompressed the body. */
  get receivedEncodedLength(): number | undefined {
    return this.#source.receivedEncodedLength;
  }

  override _read(): void {
    if (this.#started) this.#source.resume();
    else this.#start();
  }

  /**
   * Every byte of the body. When the content-type parser did not read it all
   * (a parser that hands the stream to the handler), the rest is read now and
   * kept buffered in this stream for whoever reads it next.
   */
  async bytes(): Promise<Buffer> {
    if (!this.#ended && !this.#error) {
      this.#draining = true;
      if (this.#started) this.#source.resume();
      else this.#start();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (this.#error) throw this.#error;
    return Buffer.concat(this.#chunks);
  }

  /** Drop the copy: idem has decided and will not ask for the bytes again. */
  forget(): void {
    this.#keeping = false;
    this.#chunks.length = 0;
  }

  #start(): void {
    this.#started = true;
    const source = this.#source;
    if (source.readableEnded) {
      this.#finish();
      return;
    }
    source.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (this.#keeping) this.#chunks.push(bytes);
      // While idem drains the body itself, nobody reads this stream yet: keep
      // buffering instead of pausing, or the drain would never finish.
      if (!this.push(bytes) && !this.#draining) source.pause();
    });
    source.once('end', () => this.#finish());
    source.once('error', (error: Error) => this.#fail(error));
    // A client that goes away mid-body closes the request without an 'end'.
    source.once('close', () => {
      if (!this.#ended) this.#fail(new Error('the client aborted the request body'));
    });
  }

  #fail(error: Error): void {
    if (this.#error || this.#ended) return;
    this.#error = error;
    this.#wake();
    this.destroy(error);
  }

  #finish(): void {
    this.#ended = true;
    this.push(null);
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
