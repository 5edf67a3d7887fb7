/**
 * The largest-body round trip, run inside workerd: a body of the store's
 * `maxResponseBytes`, given as a view into a larger buffer, completed and
 * read back next to the binding, as in production. Driven from Node instead,
 * the 1.8 MB would cross miniflare's binding proxy each way, serialised one
 * number at a time (seconds on a quiet machine, a test of the proxy's speed),
 * and leave an RPC stub that workerd warns about when it is collected.
 */
import type { Store } from '@idem/core/store';

/** The byte at `i` of the buffer the round trip stores from, known to both sides. */
export const byteAt = (i: number): number => (i * 7 + (i >> 9)) & 0xff;

/** What the round trip answers: what the store said and what came back. */
export interface LargeBodyAnswer {
  readonly maxResponseBytes: number;
  readonly completed: string;
  readonly state: string | undefined;
  readonly byteLength: number;
  /** SHA-256 of the body read back, lower-case hex. */
  readonly sha256: string;
}

/** Claim `key`, complete it with a body of `maxResponseBytes`, read it back; the answer as JSON. */
export async function largeBodyRoundTrip(
  store: Store & { readonly maxResponseBytes: number },
  key: string,
): Promise<Response> {
  const owner = { fingerprint: 'fp', token: crypto.randomUUID(), leaseMs: 30_000 };
  await store.claim(key, owner);
  // A view into a larger buffer: the store must send the view's bytes only.
  const buffer = new Uint8Array(store.maxResponseBytes + 100);
  for (let i = 0; i < buffer.length; i++) buffer[i] = byteAt(i);
  const completed = await store.complete(
    key,
    owner.token,
    {
      status: 201,
      headers: [['content-type', 'application/octet-stream']],
      body: buffer.subarray(100),
    },
    60_000,
  );
  const record = await store.read(key);
  const read = record?.state === 'completed' ? record.response.body : new Uint8Array(0);
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', read as Uint8Array<ArrayBuffer>),
  );
  const answer: LargeBodyAnswer = {
    maxResponseBytes: store.maxResponseBytes,
    completed,
    state: record?.state,
    byteLength: read.byteLength,
    sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
  };
  return Response.json(answer);
}
