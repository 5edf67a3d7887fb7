import { Readable } from 'node:stream';
import { captureBody, streamsThrough } from '@idem/core/http';

/** A reply payload as Fastify's `onSend` hooks see it. */
export type Payload =
  | string
  | Uint8Array
  | Readable
  | ReadableStream<Uint8Array>
  | null
  | undefined;

/**
 * What a payload holds: its bytes when they fit within `limit` (then
 * `payload` is what to send on), or `bytes: null` when it must stream through
 * unstored (then `payload` still yields every byte, the buffered ones first).
 */
export interface Captured {
  readonly bytes: Uint8Array | null;
  readonly payload: Payload;
}

const EMPTY = new Uint8Array(0);

/**
 * Read a payload for storage, up to `limit` bytes. Strings and buffers are
 * taken as they are; streams are buffered within the limit and sent on from
 * the buffer, or passed through once they grow past it. A never-ending
 * `text/event-stream`, or a declared length over the limit, is not read at all.
 * Buffered payloads (the usual serialized reply) are taken synchronously.
 */
export function capturePayload(
  payload: Payload,
  limit: number,
  contentType: string | null,
  contentLength: string | null,
): Captured | Promise<Captured> {
  if (payload === null || payload === undefined) return { bytes: EMPTY, payload };
  if (typeof payload === 'string') return fits(Buffer.from(payload), payload, limit);
  if (payload instanceof Uint8Array) return fits(payload, payload, limit);
  if (streamsThrough(contentType, contentLength, limit)) return { bytes: null, payload };
  if (payload instanceof Readable) return readNodeStream(payload, limit);
  if (typeof (payload as ReadableStream).getReader === 'function') {
    return captureBody(payload as ReadableStream<Uint8Array>, limit).then((captured) =>
      captured.bytes === null
        ? { bytes: null, payload: captured.stream }
        : { bytes: captured.bytes, payload: Buffer.from(captured.bytes) },
    );
  }
  // Something Fastify serialized in a way idem does not know: send it, keep nothing.
  return { bytes: null, payload };
}

function fits(bytes: Uint8Array, payload: Payload, limit: number): Captured {
  return { bytes: bytes.byteLength > limit ? null : bytes, payload };
}

async function readNodeStream(stream: Readable, limit: number): Promise<Captured> {
  const chunks: Buffer[] = [];
  let size = 0;
  const source = stream[Symbol.asyncIterator]();
  for (let next = await source.next(); !next.done; next = await source.next()) {
    const chunk: Buffer = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > limit) return { bytes: null, payload: Readable.from(rest(chunks, source)) };
  }
  const bytes = Buffer.concat(chunks);
  return { bytes, payload: bytes };
}

async function* rest(head: Buffer[], source: AsyncIterator<Buffer | string>) {
  yield* head;
  for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
}
