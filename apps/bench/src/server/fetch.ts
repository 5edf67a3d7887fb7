import { idempotency } from '@idem/web';
import type { BuildContext, Payment } from './context.js';

/**
 * The payments app as one Fetch handler, no framework: what a Next.js route
 * handler, `Bun.serve` or `Deno.serve` runs. With `library: 'idem'`, the
 * payments handler is wrapped by `@idem/web` as its README shows it; the
 * bare rows run the same handler unwrapped, on the same server.
 */
export function fetchApp(ctx: BuildContext): (request: Request) => Response | Promise<Response> {
  const payments = async (request: Request): Promise<Response> =>
    Response.json(
      await ctx.charge(
        (await request.json()) as Payment,
        () => request.headers.get('idempotency-key') ?? undefined,
      ),
      { status: 201 },
    );
  const post =
    ctx.unit.library === 'idem'
      ? // As the README shows it, with the scope an app derives from its authentication.
        idempotency({ store: ctx.idemStore!, scope: () => 'bench' })(payments)
      : payments;
  return (request) => {
    const path = pathOf(request.url);
    if (path === '/payments' && request.method === 'POST') return post(request);
    if (path === '/stats') return Response.json(ctx.stats());
    if (path === '/counts') return Response.json(ctx.stormCounts());
    return new Response('not found', { status: 404 });
  };
}

/** The path of an absolute URL, without parsing all of it (as routers do). */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const q = url.indexOf('?', start);
  return url.slice(start, q === -1 ? undefined : q);
}
