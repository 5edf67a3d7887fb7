/**
 * `@idem/test-workerd/worker`: the Worker side. A Worker's default export
 * built by {@link checksWorker} runs `@idem/conformance`'s store checks
 * inside workerd, next to the bindings the stores are built on, one check per
 * request; `workerdStoreSuite` (the Node side) declares them as vitest tests.
 *
 * ```ts
 * export default checksWorker<{ DB: D1Database }>({
 *   server: (env) => ({ name: 'd1', clock: 'server', createStore: () => d1Store({ database: env.DB }) }),
 * });
 * ```
 *
 * @packageDocumentation
 */
import {
  assertKnownChecks,
  type StoreSuiteOptions,
  skipReason,
  storeChecks,
} from '@idem/conformance/store/checks';
import {
  type CheckListing,
  FC_VARIABLES,
  type RunAnswer,
  type RunRequest,
  type SuiteListing,
} from './protocol.js';

export { byteAt, type LargeBodyAnswer, largeBodyRoundTrip } from './bodies.js';

/** Builds a suite's options from the Worker's bindings, for every request. */
export type SuiteFactory<Env> = (env: Env) => StoreSuiteOptions;

/** A Worker's fetch handler, as its default export. */
export interface ChecksWorker<Env> {
  fetch(request: Request, env: Env): Promise<Response>;
}

/**
 * A Worker that runs store suites' checks in workerd:
 *
 * - `GET /checks` lists every suite and its checks ({@link SuiteListing}[]);
 * - `POST /run/<suite>/<index>` with a {@link RunRequest} runs that one check
 *   and answers a {@link RunAnswer}, with status 200 whether it passed or not.
 *
 * Suites' `teardown` is not called: the Worker lives as long as miniflare,
 * which the Node side disposes.
 *
 * @param suites The suites by id, each built from the Worker's `env`.
 */
export function checksWorker<Env>(
  suites: Readonly<Record<string, SuiteFactory<Env>>>,
): ChecksWorker<Env> {
  return {
    async fetch(request, env) {
      const [, route, id = '', index = ''] = new URL(request.url).pathname.split('/');
      if (request.method === 'GET' && route === 'checks') {
        return Response.json(
          Object.entries(suites).map(([key, suite]) => listing(key, suite(env))),
        );
      }
      const suite = suites[id];
      if (request.method !== 'POST' || route !== 'run' || !suite) {
        return new Response(`no route ${request.method} ${new URL(request.url).pathname}`, {
          status: 404,
        });
      }
      const body = (await request.json()) as RunRequest;
      return Response.json(await run(suite(env), Number(index), body));
    },
  };
}

function listing(id: string, options: StoreSuiteOptions): SuiteListing {
  const checks = storeChecks(options);
  // As storeSuite does: a renamed check must not silently come back (or stay skipped).
  assertKnownChecks(
    `${options.name}: storeSuite`,
    options.skipChecks,
    checks.map((c) => c.name),
  );
  return {
    id,
    name: options.name,
    ...(options.skip ? { skip: options.skip } : {}),
    clock: options.clock,
    timeoutMs: options.timeoutMs ?? 60_000,
    checks: checks.map((c): CheckListing => {
      const skip = skipReason(options, c);
      return { group: c.group, name: c.name, ...(skip ? { skip } : {}) };
    }),
  };
}

async function run(
  options: StoreSuiteOptions,
  index: number,
  body: RunRequest,
): Promise<RunAnswer> {
  const restore = applyEnv(body.env);
  try {
    // Built after the variables are in place: storeChecks reads FC_NUM_RUNS when it is called.
    const check = storeChecks(options)[index];
    if (check?.name !== body.name) {
      throw new Error(
        `${options.name}: check ${index} is ${JSON.stringify(check?.name)}, not ${JSON.stringify(body.name)}`,
      );
    }
    return { ok: true, report: (await check.run()) ?? null };
  } catch (error) {
    return failure(error);
  } finally {
    restore();
  }
}

/** The error as plain data; fast-check's message carries the seed, path and counterexample. */
function failure(error: unknown): RunAnswer {
  if (!(error instanceof Error))
    return { ok: false, name: 'Error', message: String(error), stack: '' };
  let message = error.message;
  // fast-check (and some stores) chain the original error as `cause`: keep its words.
  for (let cause = error.cause, depth = 0; cause !== undefined && depth < 5; depth++) {
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    if (!message.includes(text)) message += `\nCaused by: ${text}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return { ok: false, name: error.name, message, stack: error.stack ?? '' };
}

type ProcessLike = { env?: Record<string, string | undefined> };

/**
 * Put the `FC_*` variables where @idem/conformance looks for them
 * (`globalThis.process.env`); returns how to undo it. A Worker without
 * `nodejs_compat` has no `process`: a shim is set only while a variable is.
 */
function applyEnv(variables: Readonly<Record<string, string>>): () => void {
  const global = globalThis as { process?: ProcessLike };
  const given = FC_VARIABLES.filter((name) => variables[name] !== undefined);
  if (given.length === 0 && !global.process?.env) return () => {};
  const created = global.process === undefined;
  global.process ??= {};
  global.process.env ??= {};
  const vars = global.process.env;
  const before = new Map(FC_VARIABLES.map((name) => [name, vars[name]]));
  for (const name of FC_VARIABLES) vars[name] = variables[name];
  return () => {
    if (created) delete global.process;
    else for (const [name, value] of before) vars[name] = value;
  };
}
