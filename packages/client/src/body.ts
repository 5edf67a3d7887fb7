/**
 * Read a request body whole, once, so every attempt sends the same bytes.
 *
 * @returns The bytes, or `'too-large'` as soon as more than `limit` arrived
 * (the rest is never read).
 */
export async function readBody(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array<ArrayBuffer> | 'too-large'> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return 'too-large';
    }
    chunks.push(value);
  }
  // Stream chunks are never backed by a SharedArrayBuffer.
  if (chunks.length === 1) return chunks[0] as Uint8Array<ArrayBuffer>;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/**
 * Make sure a response's body arrives whole before the caller sees it: read
 * a clone to the end (the runtime's tee keeps every chunk for the original,
 * so the caller reads from memory). Rejects, like the body would, when the
 * connection breaks first.
 */
export async function bufferBody(response: Response): Promise<void> {
  const reader = response.clone().body?.getReader();
  if (!reader) return;
  while (!(await reader.read()).done) {}
}

/** Let go of a response that is not returned, so its connection is freed. */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}
