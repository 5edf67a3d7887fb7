import type { HeaderReader, HttpTestApp, RouteName, TestServer } from '@idem/conformance/http';
import type { Store } from '@idem/core';
import type { ServerSpec, SpecParts, StoreSpec } from './protocol.js';
import { serveFetch } from './serve.js';
import { decode, encode } from './wire.js';

/**
 * A runtime that serves test servers from specs: Bun or Deno behind a
 * control endpoint, a Next.js app behind its own. `start` resolves to the
 * server's base URL (it may carry a path, as one Next.js app serving every
 * test server under `/s/<id>`).
 */
export interface Runtime {
  start(spec: ServerSpec): Promise<string>;
  stop(id: string): Promise<void>;
}

/** Options that may be functions of the request: the runtime asks the test for their answers. */
const OF_THE_REQUEST = ['skip', 'key', 'fingerprint', 'ttlMs', 'leaseMs'];

function holdsFunction(value: unknown): boolean {
  if (typeof value === 'function') return true;
  if (value === null || typeof value !== 'object') return false;
  return Object.values(value).some(holdsFunction);
}

/** `options` as plain data for the runtime, and the names of its functions of the request. */
function forRuntime(options: Record<string, unknown>, where: string) {
  const data: Record<string, unknown> = {};
  const functions: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    if (typeof value === 'function' && OF_THE_REQUEST.includes(name)) functions.push(name);
    else if (holdsFunction(value)) {
      throw new Error(`${where} option ${name} holds functions, which cannot reach the runtime`);
    } else data[name] = value;
  }
  return { data, functions };
}

type Options = Record<string, ((...args: unknown[]) => unknown) | undefined>;

function headerReader(lines: Array<[string, string]>): HeaderReader {
  const headers = new Headers(lines);
  return (name) => headers.get(name) ?? undefined;
}

/**
 * The test's side of the calls a test server in another runtime makes:
 * counting and holding handler runs (`enter`), the suite's `scope`, its
 * functions of the request and `logger`, and stores the suite built in this
 * process. {@link remoteSuite} serves them over HTTP; the Worker's test
 * answers them over a service binding.
 */
export interface TestCalls {
  /** Answer one call: `POST /<what>/<id>/<arg>`. */
  answer(request: Request): Promise<Response>;
  /** Take a test app in: the plain-data parts of its spec, and the store the suite gave it. */
  register(app: HttpTestApp): { readonly spec: SpecParts; readonly store: Store };
  unregister(id: string): void;
}

/** The test's side of the calls, for the apps registered with it. */
export function testCalls(): TestCalls {
  const apps = new Map<string, HttpTestApp>();
  let ids = 0;
  return {
    async answer(request) {
      const [, what, id = '', arg = ''] = new URL(request.url).pathname.split('/');
      const app = apps.get(id);
      if (!app) return new Response(`no test server ${id}`, { status: 404 });
      try {
        if (what === 'log') {
          // The runtime renders details as the suite's own logger does (errors by name and message).
          const logger = app.options.logger;
          const level = arg === 'error' ? 'error' : 'warn';
          if (logger) (logger[level] ?? logger.warn).call(logger, await request.text());
          return new Response(null, { status: 204 });
        }
        if (what === 'enter') return new Response(String(await app.enter(arg as RouteName)));
        const lines = () => request.json() as Promise<Array<[string, string]>>;
        if (what === 'scope')
          return new Response(await app.options.scope!(headerReader(await lines())));
        if (what === 'functions') {
          const header = headerReader(await lines());
          const answer = async (options: Options) => {
            const answers: Record<string, unknown> = {};
            for (const name of ['skip', 'key', 'ttlMs', 'leaseMs']) {
              const f = options[name];
              if (typeof f === 'function') answers[name] = await f(header);
            }
            return answers;
          };
          return new Response(
            encode({
              mount: await answer(app.options as unknown as Options),
              route: await answer(app.routeOptions as unknown as Options),
            }),
          );
        }
        if (what === 'fingerprint') {
          const { headers, ...parts } = decode(await request.text()) as {
            headers: Array<[string, string]>;
          };
          const header = headerReader(headers);
          const options = (arg === 'route' ? app.routeOptions : app.options) as unknown as Options;
          const asked = { ...parts, header: (name: string) => header(name) ?? null };
          return new Response(encode(await options.fingerprint!(header, asked)));
        }
        if (what === 'store') {
          const args = decode(await request.text()) as unknown[];
          const method = arg as 'claim' | 'complete' | 'release' | 'renew' | 'read';
          const operation = app.options.store[method] as (...a: unknown[]) => Promise<unknown>;
          return new Response(encode(await operation.apply(app.options.store, args)));
        }
        return new Response(`unknown call ${what}`, { status: 404 });
      } catch (error) {
        return new Response(error instanceof Error ? error.message : String(error), {
          status: 500,
        });
      }
    },
    register(app) {
      const { store, scope, shouldStore, logger, ...rest } = app.options;
      const options = forRuntime(rest, 'the mount');
      const routeOptions = forRuntime({ ...app.routeOptions }, '/own');
      const spec: SpecParts = {
        id: String(++ids),
        options: options.data,
        routeOptions: routeOptions.data,
        functions: { mount: options.functions, route: routeOptions.functions },
        scope: scope !== undefined,
        ...(logger !== undefined && { logger: logger !== false }),
        ...(shouldStore && {
          storedStatuses: Array.from({ length: 500 }, (_, i) => 100 + i).filter(shouldStore),
        }),
      };
      apps.set(spec.id, app);
      return { spec, store };
    },
    unregister(id) {
      apps.delete(id);
    },
  };
}

/** Stand-ins for stores another runtime builds itself, and the spec each stands for. */
export interface StandIns<S> {
  /**
   * A store to hand the suite's `stores`: its operations refuse (the runtime
   * builds the real one from `spec`); `maxResponseBytes` is what that store
   * keeps, when it keeps less than the engine's limit.
   */
  store(spec: S, maxResponseBytes?: number): Store;
  /** The spec `store` stands for, or `undefined` for a store of the test's own. */
  specOf(store: Store): S | undefined;
}

/** Stand-ins for stores that live in `where` (named in the error their operations throw). */
export function standIns<S>(where: string): StandIns<S> {
  const specs = new WeakMap<Store, S>();
  return {
    store(spec, maxResponseBytes) {
      const elsewhere = () => Promise.reject(new Error(`this store lives in ${where}`));
      const store: Store = {
        claim: elsewhere,
        complete: elsewhere,
        release: elsewhere,
        renew: elsewhere,
        read: elsewhere,
        ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
      };
      specs.set(store, spec);
      return store;
    },
    specOf: (store) => specs.get(store),
  };
}

/** The bridge between the suite (in this process) and test servers in another runtime. */
export interface RemoteSuite {
  /** The suite's `createServer`, on `runtime`. */
  createServer(app: HttpTestApp): Promise<TestServer>;
  /**
   * A stand-in for a store the runtime builds itself: hand it to the suite's
   * `stores`; the runtime gets `spec` instead. `maxResponseBytes` is what
   * that store keeps, when it keeps less than the engine's limit.
   */
  runtimeStore(spec: StoreSpec, maxResponseBytes?: number): Store;
  close(): Promise<void>;
}

/**
 * Serve the test's side of the bridge ({@link testCalls}) on a loopback
 * port and build test servers on `runtime`.
 */
export async function remoteSuite(runtime: Runtime): Promise<RemoteSuite> {
  const calls = testCalls();
  const inRuntime = standIns<StoreSpec>('the runtime');
  const answer = (request: Request) => calls.answer(request);

  const server = await serveFetch(answer);
  const harness = server.url;

  return {
    async createServer(app) {
      const { spec, store } = calls.register(app);
      const url = await runtime.start({
        ...spec,
        harness,
        store: inRuntime.specOf(store) ?? { kind: 'node' },
      });
      return {
        url,
        async close() {
          await runtime.stop(spec.id);
          calls.unregister(spec.id);
        },
      };
    },
    runtimeStore: inRuntime.store,
    close: () => server.close(),
  };
}
