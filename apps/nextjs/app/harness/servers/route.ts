import type { ServerSpec } from '@idem/test-runtimes/app';
import { harnessEnabled, startServer, stopServer } from '../../../lib/harness';

export const dynamic = 'force-dynamic';

const notFound = () => new Response(null, { status: 404 });

/** Test-only: registers a test server from its spec; it answers under /harness/s/<id>. */
export async function PUT(request: Request): Promise<Response> {
  if (!harnessEnabled()) return notFound();
  startServer((await request.json()) as ServerSpec);
  return new Response(null, { status: 204 });
}

/** Test-only: drops the test server `?id=`. */
export async function DELETE(request: Request): Promise<Response> {
  if (!harnessEnabled()) return notFound();
  await stopServer(new URL(request.url).searchParams.get('id') ?? '');
  return new Response(null, { status: 204 });
}
