/**
 * The runtime's side of the bridge (./remote.ts): one test server's Fetch
 * handler, built from the spec the test sent. Web APIs only: Bun, Deno and
 * Next.js import it as it is.
 */
import type { RouteName } from '@idem/conformance/http/contract';
import type { Store } from '@idem/core';
import type { RequestParts } from '@idem/core/http';
import type { Answers, ServerSpec, SpecParts } from './protocol.js';
import { STORE_METHODS } from './protocol.js';
import { type Handler, suiteFetchHandler } from './routes.js';
import { decode, encode } from './wire.js';

/** A Fetch adapter's wrapper, as `@idem/web`'s `idempotency(options)` returns it. */
export interface Wrapper {
  (handler: Handler): Handler;
  route(overrides: Record<string, unknown>): (handler: Handler) => Handler;
}

/** What the runtime gives the bridge: the adapter under test and the stores it builds. */
export interface RuntimeParts {
  // biome-ignore lint/suspicious/noExplicitAny: each adapter types its own options.
  readonly idempotency: (options: any) => Wrapper;
  readonly memoryStore: () => Store;
  /** A Redis store on the runtime's own client; absent where the runtime reaches no Redis. */
  readonly redisStore?: (url: string) => Store;
}

/** Call the test: `POST <path>`, resolving to its answer; its errors come back as thrown `Error`s. */
export type CallTest = (path: string, body?: string) => Promise<string>;

/** A {@link CallTest} at `base`, over `fetcher` (the platform's `fetch`, or a Worker's service binding). */
export function testCaller(
  base: string,
  fetcher: (url: string, init: RequestInit) => Promise<Response> = fetch,
): CallTest {
  return async (path, body) => {
    const response = await fetcher(`${base}${path}`, { method: 'POST', body });
    const text = await response.text();
    if (!response.ok) throw new Error(text);
    return text;
  };
}

/** A store whose operations run on the store object the suite built in the test process. */
export function testProcessStore(call: CallTest, id: string): Store {
  const store: Record<string, unknown> = {};
  for (const method of STORE_METHODS) {
    store[method] = async (...args: unknown[]) =>
      decode(await call(`/store/${id}/${method}`, encode(args)));
  }
  return store as unknown as Store;
}

/** The idem options a spec describes, for an adapter whose functions of the request take `Ctx`. */
export interface SpecOptions {
  /** The mount's options, all but `store`. */
  readonly mount: Record<string, unknown>;
  /** `/own`'s overrides. */
  readonly route: Record<string, unknown>;
  /** Ask the test, before idem runs, what its functions of the request say of `request`. */
  answer(request: Request): Promise<void>;
}

/**
 * The options of the test server `spec` describes. The suite's functions of
 * the request run in the test: idem calls skip, key, ttlMs and leaseMs
 * synchronously, so the test answers for all of them at once, before idem
 * runs ({@link SpecOptions.answer}); a fingerprint function, which needs the
 * body, is called when idem calls it. The suite's logger gets every line
 * idem writes, rendered as the suite's own logger renders it.
 */
export function specOptions<Ctx>(
  spec: SpecParts,
  call: CallTest,
  requestOf: (ctx: Ctx) => Request,
): SpecOptions {
  const { id } = spec;
  const headerLines = (request: Request) => JSON.stringify([...request.headers]);
  const answers = new WeakMap<Request, Answers>();
  const functions = (which: keyof Answers) => {
    const options: Record<string, unknown> = {};
    for (const name of spec.functions[which]) {
      options[name] =
        name === 'fingerprint'
          ? async (ctx: Ctx, asked: RequestParts) =>
              decode(
                await call(
                  `/fingerprint/${id}/${which}`,
                  encode({ ...asked, headers: [...requestOf(ctx).headers] }),
                ),
              )
          : (ctx: Ctx) => answers.get(requestOf(ctx))?.[which][name];
    }
    return options;
  };
  const render = (value: unknown) =>
    value instanceof Error ? `${value.name}: ${value.message}` : String(value);
  const log =
    (level: 'warn' | 'error') =>
    (message: string, ...details: unknown[]) => {
      const line = [message, ...details].map(render).join(' ');
      call(`/log/${id}/${level}`, line).catch(() => {});
    };
  const stored = spec.storedStatuses && new Set(spec.storedStatuses);
  const asks = spec.functions.mount.length + spec.functions.route.length > 0;
  return {
    mount: {
      ...spec.options,
      ...functions('mount'),
      ...(spec.logger !== undefined && {
        logger: spec.logger && { warn: log('warn'), error: log('error') },
      }),
      ...(stored && { shouldStore: (status: number) => stored.has(status) }),
      ...(spec.scope && {
        scope: (ctx: Ctx) => call(`/scope/${id}`, headerLines(requestOf(ctx))),
      }),
    },
    route: { ...spec.routeOptions, ...functions('route') },
    async answer(request) {
      if (!asks) return;
      answers.set(request, decode(await call(`/functions/${id}`, headerLines(request))) as Answers);
    },
  };
}

function storeOf(spec: ServerSpec, parts: RuntimeParts, call: CallTest): Store {
  switch (spec.store.kind) {
    case 'memory':
      return parts.memoryStore();
    case 'redis':
      if (!parts.redisStore) throw new Error('this runtime builds no Redis store');
      return parts.redisStore(spec.store.url);
    case 'node':
      return testProcessStore(call, spec.id);
  }
}

/** The test server `spec` describes, as one Fetch handler. */
export function remoteSuiteHandler(
  spec: ServerSpec,
  parts: RuntimeParts,
): (request: Request) => Promise<Response> {
  const call = testCaller(spec.harness);
  const options = specOptions(spec, call, (request: Request) => request);
  const idem = parts.idempotency({ ...options.mount, store: storeOf(spec, parts, call) });
  const handler = suiteFetchHandler({
    enter: async (route: RouteName) => Number(await call(`/enter/${spec.id}/${route}`)),
    mount: idem,
    own: idem.route(options.route),
  });
  return async (request) => {
    await options.answer(request);
    return handler(request);
  };
}

export type { ServerSpec, StoreSpec } from './protocol.js';
