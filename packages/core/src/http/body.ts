import { concatBytes } from '../bytes.js';

/** A response body read for storage: whole, or too large (then `stream` still yields every byte). */
export type CapturedBody =
  | { readonly bytes: Uint8Array }
  | { readonly bytes: null; readonly stream: ReadableStream<Uint8Array> };

/**
 * Read a Web stream body up to `limit` bytes. Within the limit the bytes are
 * returned whole; past it, reading stops and `stream` yields what was read
 * followed by the rest, so the client still receives the full response.
 */
export async function captureBody(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<CapturedBody> {
  if (body === null) return { bytes: new Uint8Array(0) };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > limit) return { bytes: null, stream: resume(chunks, reader) };
  }
  return { bytes: concatBytes(chunks) };
}

function resume(
  head: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i < head.length) {
        controller.enqueue(head[i++]!);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * Whether a response must stream through untouched, recorded as "ran, not
 * stored", without buffering any of it: a never-ending `text/event-stream`,
 * or a declared `Content-Length` over `limit`. Every adapter asks this before
 * it buffers a body, so they all draw the line in the same place.
 */
export function streamsThrough(
  contentType: string | null | undefined,
  contentLength: string | number | null | undefined,
  limit: number,
): boolean {
  if (typeof contentType === 'string' && /^\s*text\/event-stream\s*(?:;|$)/i.test(contentType)) {
    return true;
  }
  const declared = Number(contentLength ?? Number.NaN);
  return Number.isFinite(declared) && declared > limit;
}

/** Statuses whose responses carry no body (a Fetch `Response` refuses one). */
export function isNullBodyStatus(status: number): boolean {
  return status === 101 || status === 204 || status === 205 || status === 304;
}
