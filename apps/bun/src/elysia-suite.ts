import { Elysia } from 'elysia';

/** The suite's route names: its Fetch handler routes on the last path segment. */
const ROUTES = ['echo', 'own', 'bytes', 'events', 'empty', 'parsed', 'throw'] as const;

/**
 * The suite's routes in Elysia, each an Elysia route whose handler hands
 * Elysia's `request` to the idem-wrapped Fetch handler, as a user writes
 * `app.post('/payments', ({ request }) => pay(request))`. Every method,
 * since the suite also sends the methods idem passes through.
 */
export function elysiaSuite(fetch: (request: Request) => Promise<Response>): Elysia {
  const app = new Elysia();
  for (const route of ROUTES) app.all(`/${route}`, ({ request }) => fetch(request));
  return app;
}
