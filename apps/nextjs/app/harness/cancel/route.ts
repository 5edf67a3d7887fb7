import { harnessEnabled } from '../../../lib/harness';

export const dynamic = 'force-dynamic';

/**
 * Test-only, no idem: reads a clone of the request body until it outgrows
 * 1000 bytes, cancels both and answers 413, as idem does for a body over
 * `maxRequestBytes`, so the test can show what Next.js does to the
 * connection then (test/next.deep.test.ts).
 */
export async function POST(request: Request): Promise<Response> {
  if (!harnessEnabled()) return new Response(null, { status: 404 });
  const clone = request.clone().body!.getReader();
  for (let read = 0; read <= 1000; ) {
    const { done, value } = await clone.read();
    if (done) break;
    read += value.byteLength;
  }
  await Promise.all([clone.cancel(), request.body!.cancel()]);
  return new Response('too large', { status: 413 });
}
