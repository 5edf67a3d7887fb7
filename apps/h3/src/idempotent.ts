import type { FetchHandler } from '@idem/web';
import { type H3Event, type Middleware, toResponse } from 'h3';

/**
 * An idem wrapper (`idempotency(options)` or `.route(overrides)` of
 * `@idem/web`) as h3 middleware, for a route's `middleware` option or
 * `app.use`. The handler's value becomes the `Response` h3 would send
 * (`event.res` status and headers included), and that is what idem stores
 * and replays; a thrown error releases the key and goes on to h3's error
 * handling. `claimOf(event.req)` is the handler's claim.
 */
export function idempotent(wrap: (handler: FetchHandler) => FetchHandler): Middleware {
  const run = wrap(async (_request: Request, event: H3Event, next: () => unknown) =>
    toResponse(await next(), event),
  );
  return (event, next) => run(event.req, event, next);
}
