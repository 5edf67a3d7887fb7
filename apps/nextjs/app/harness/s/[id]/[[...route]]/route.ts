import { serve } from '../../../../../lib/harness';

export const dynamic = 'force-dynamic';

interface Context {
  params: Promise<{ id: string }>;
}

/** Test-only: every method to the test server the path names; its routes go by the last segment. */
async function handler(request: Request, { params }: Context): Promise<Response> {
  return serve((await params).id, request);
}

export {
  handler as DELETE,
  handler as GET,
  handler as HEAD,
  handler as OPTIONS,
  handler as PATCH,
  handler as POST,
  handler as PUT,
};
