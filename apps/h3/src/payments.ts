import { memoryStore } from '@idem/store-memory';
import { type FetchHandler, idempotency } from '@idem/web';
import {
  defineHandler,
  getRouterParam,
  H3,
  type H3Event,
  HTTPError,
  type Middleware,
  serve,
  toResponse,
} from 'h3';

/**
 * An idem wrapper (`idempotency(options)` or `.route(overrides)` of
 * `@idem/web`) as h3 middleware, for a route's `middleware` option or
 * `app.use`. The handler's value becomes the `Response` h3 would send
 * (`event.res` status and headers included), and that is what idem stores
 * and replays; a thrown error releases the key and goes on to h3's error
 * handling. `claimOf(event.req)` is the handler's claim.
 */
function idempotent(wrap: (handler: FetchHandler) => FetchHandler): Middleware {
  const run = wrap(async (_request: Request, event: H3Event, next: () => unknown) =>
    toResponse(await next(), event),
  );
  return (event, next) => run(event.req, event, next);
}

const idem = idempotency({
  store: memoryStore(),
  // Each account has its own keys: one account never replays another's payment.
  scope: (request) => request.headers.get('x-account-id') ?? '',
});

const app = new H3();
let charges = 0;

// Authentication before idem: a refused request stores nothing.
app.use((event) => {
  if (!event.req.headers.get('x-account-id')) {
    throw new HTTPError({ status: 401, message: 'send an X-Account-Id header' });
  }
});

app.post(
  '/payments',
  async (event) => {
    const { amount } = (await event.req.json()) as { amount: unknown };
    if (!Number.isInteger(amount) || (amount as number) <= 0) {
      throw new HTTPError({ status: 400, message: 'amount must be a positive integer (cents)' });
    }
    event.res.status = 201;
    return { id: `pay_${++charges}`, amount, account: event.req.headers.get('x-account-id') };
  },
  { middleware: [idempotent(idem)] },
);

// The form a Nitro route file exports, with a route's own options over the mount's.
const refund = defineHandler({
  middleware: [idempotent(idem.route({ ttlMs: 7 * 24 * 3_600_000 }))],
  handler: (event) => {
    event.res.status = 202;
    return { refunded: getRouterParam(event, 'id') };
  },
});
app.post('/payments/:id/refund', refund);

// PORT and HOST from the environment (3000 and every interface by default).
serve(app);
