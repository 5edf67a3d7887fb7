/**
 * The runtime's side of the bridge (./remote.ts): one test server's Fetch
 * handler, built from the spec the test sent. Web APIs only: Bun, Deno and
 * Next.js import it as it is.
 */
import type { RouteName } from '@idem/conformance/http/contract';
import type { Store } from '@idem/core';
import type { RequestParts } from '@idem/core/http';
import type { Answers, ServerSpec } from './protocol.js';
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

/** Call the test; its errors come back as thrown `Error`s. */
async function callTest(spec: ServerSpec, path: string, body?: string): Promise<string> {
  const response = await fetch(`${spec.harness}${path}`, { method: 'POST', body });
  const text = await response.text();
  if (!response.ok) throw new Error(text);
  return text;
}

function storeOf(spec: ServerSpec, parts: RuntimeParts): Store {
  switch (spec.store.kind) {
    case 'memory':
      return parts.memoryStore();
    case 'redis':
      if (!parts.redisStore) throw new Error('this runtime builds no Redis store');
      return parts.redisStore(spec.store.url);
    case 'node': {
      const store: Record<string, unknown> = {};
      for (const method of STORE_METHODS) {
        store[method] = async (...args: unknown[]) =>
          decode(await callTest(spec, `/store/${spec.id}/${method}`, encode(args)));
      }
      return store as unknown as Store;
    }
  }
}

/** The test server `spec` describes, as one Fetch handler. */
export function remoteSuiteHandler(
  spec: ServerSpec,
  parts: RuntimeParts,
): (request: Request) => Promise<Response> {
  const { id } = spec;
  const headerLines = (request: Request) => JSON.stringify([...request.headers]);
  // The suite's functions of the request run in the test. idem calls skip,
  // key, ttlMs and leaseMs synchronously, so the test answers for all of
  // them at once, before idem runs; a fingerprint function, which needs the
  // body, is called when idem calls it.
  const answers = new WeakMap<Request, Answers>();
  const functions = (which: keyof Answers) => {
    const options: Record<string, unknown> = {};
    for (const name of spec.functions[which]) {
      options[name] =
        name === 'fingerprint'
          ? async (request: Request, asked: RequestParts) =>
              decode(
                await callTest(
                  spec,
                  `/fingerprint/${id}/${which}`,
                  encode({ ...asked, headers: [...request.headers] }),
                ),
              )
          : (request: Request) => answers.get(request)?.[which][name];
    }
    return options;
  };
  const render = (value: unknown) =>
    value instanceof Error ? `${value.name}: ${value.message}` : String(value);
  const log =
    (level: 'warn' | 'error') =>
    (message: string, ...details: unknown[]) => {
      const line = [message, ...details].map(render).join(' ');
      callTest(spec, `/log/${id}/${level}`, line).catch(() => {});
    };
  const logger =
    spec.logger === undefined
      ? {}
      : { logger: spec.logger && { warn: log('warn'), error: log('error') } };
  const stored = spec.storedStatuses && new Set(spec.storedStatuses);
  const idem = parts.idempotency({
    ...spec.options,
    ...functions('mount'),
    ...logger,
    ...(stored && { shouldStore: (status: number) => stored.has(status) }),
    store: storeOf(spec, parts),
    ...(spec.scope && {
      scope: (request: Request) => callTest(spec, `/scope/${id}`, headerLines(request)),
    }),
  });
  const handler = suiteFetchHandler({
    enter: async (route: RouteName) => Number(await callTest(spec, `/enter/${id}/${route}`)),
    mount: idem,
    own: idem.route({ ...spec.routeOptions, ...functions('route') }),
  });
  const asks = spec.functions.mount.length + spec.functions.route.length > 0;
  return async (request) => {
    if (asks) {
      answers.set(
        request,
        decode(await callTest(spec, `/functions/${id}`, headerLines(request))) as Answers,
      );
    }
    return handler(request);
  };
}

export type { ServerSpec, StoreSpec } from './protocol.js';
