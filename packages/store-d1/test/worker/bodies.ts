/**
 * A Worker that stores one body of `maxResponseBytes` through `d1Store` and
 * reads it back, inside workerd where D1 runs, as in production. Driving the
 * store from Node instead sends the body through miniflare's binding proxy,
 * which serialises its 1.8 million bytes one number at a time each way, in JS
 * (4.7 s on a quiet machine, 18 s on a busy one): a test of the proxy's
 * speed, not of the store.
 */
import { scopedKey } from '@idem/core';
import { type D1DatabaseLike, d1Store } from '../../src/index.js';

/** The byte at `i` of the body the test stores, known to both sides. */
export const byteAt = (i: number): number => (i * 7 + (i >> 9)) & 0xff;

export default {
  async fetch(_request: Request, env: { DB: D1DatabaseLike }): Promise<Response> {
    const store = d1Store({ database: env.DB, table: 'idem_bodies' });
    await store.migrate();
    const key = await scopedKey('bodies', crypto.randomUUID());
    const owner = { fingerprint: 'fp', token: crypto.randomUUID(), leaseMs: 30_000 };
    await store.claim(key, owner);
    // A view into a larger buffer: the store must send the view's bytes only.
    const buffer = new Uint8Array(store.maxResponseBytes + 100);
    for (let i = 0; i < buffer.length; i++) buffer[i] = byteAt(i);
    const body = buffer.subarray(100);
    const completed = await store.complete(
      key,
      owner.token,
      { status: 201, headers: [['content-type', 'application/octet-stream']], body },
      60_000,
    );
    const record = await store.read(key);
    const read = record?.state === 'completed' ? record.response.body : new Uint8Array(0);
    const digest = new Uint8Array(
      await crypto.subtle.digest('SHA-256', read as Uint8Array<ArrayBuffer>),
    );
    return Response.json({
      maxResponseBytes: store.maxResponseBytes,
      completed,
      state: record?.state,
      byteLength: read.byteLength,
      sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    });
  },
};
