import { Elysia } from 'elysia';

type Fetch = (request: Request) => Promise<Response>;

/** The suite's route names: its Fetch handler routes on the last path segment. */
const ROUTES = ['echo', 'own', 'bytes', 'events', 'empty', 'parsed', 'throw'] as const;

/**
 * The suite's routes as Elysia routes whose handlers hand Elysia's `request`
 * to the idem-wrapped Fetch handler, as a user writes
 * `app.post('/payments', ({ request }) => pay(request))`. Every method:
 * the suite also sends the methods idem passes through.
 */
export function elysiaRoutes(fetch: Fetch): Elysia {
  const app = new Elysia();
  for (const route of ROUTES) app.all(`/${route}`, ({ request }) => fetch(request));
  return app;
}

/** The suite's handler mounted whole, Elysia's way for a Fetch handler of its own: `app.mount(handler)`. */
export function elysiaMount(fetch: Fetch): Elysia {
  return new Elysia().mount(fetch);
}
