/**
 * The Lambda section: @idem/lambda beside Powertools' idempotency utility on
 * the same DynamoDB (dynalite, in a child process) and Redis, invoked in
 * this process with real event shapes and a Lambda context per invocation.
 *
 *   pnpm --filter @idem/bench lambda [--quick] [--passes 7] [--seconds 1] [--stores dynamodb,redis] [--entries http,function] [--out results/lambda.json]
 *
 * Per pass and entry (an HTTP API handler, the same under Middy, a plain
 * payload handler): the
 * bare handler, every library on every store in a shuffled order (first
 * calls on fresh keys, then replays of one completed key), the bare handler
 * again. Then the retry storm per library, store and entry. Under CI=true an
 * unreachable Redis fails the run; elsewhere its rows are skipped with a
 * banner.
 */
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { intervalText } from '../compare.ts';
import { startDynalite } from '../cost/dynamodb.ts';
import { deleteRunKeys, gitCommit, pickList } from '../housekeeping.ts';
import { CONFIDENCE, seededRandom } from '../stats.ts';
import { watchPorts } from '../wire.ts';
import { PaymentsApp, type Receipt } from './app.ts';
import { countDelta, NO_COUNT } from './counters.ts';
import { createTables } from './dynamodb.ts';
import {
  bareSide,
  type Concurrent,
  ENTRIES,
  type Entry,
  type Handlers,
  invokeEntry,
  LAMBDA_LIBRARIES,
  LAMBDA_STORES,
  type LambdaLibrary,
  type LambdaStore,
  type LibrarySide,
  openSide,
  type Servers,
} from './libraries.ts';
import {
  bareRateByPass,
  lambdaPassOrder,
  lambdaUnitId,
  mergeByPass,
  planLambdaUnits,
  runWindow,
  summarizeLambda,
  type WindowLength,
} from './measure.ts';
import { lambdaComparisons, lambdaProblems } from './render.ts';
import { requestsPerDuplicate, runLambdaStorm } from './storm.ts';
import type {
  LambdaPhase,
  LambdaResults,
  LambdaRow,
  LambdaSample,
  LambdaSettings,
  LambdaStormResult,
  LambdaUnit,
} from './types.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const started = performance.now();

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    passes: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    invocations: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    stores: { type: 'string', default: LAMBDA_STORES.join(',') },
    entries: { type: 'string', default: ENTRIES.join(',') },
    libraries: { type: 'string', default: LAMBDA_LIBRARIES.join(',') },
    'storm-keys': { type: 'string' },
    'storm-duplicates': { type: 'string' },
    'storm-ms': { type: 'string' },
    'no-storm': { type: 'boolean', default: false },
    seed: { type: 'string' },
    out: { type: 'string' },
  },
});

const quick = args.quick ?? false;
/**
 * Passes of a full run: each idem / Powertools verdict is an interval over
 * them (Student's t with passes − 1 degrees of freedom).
 * @default 7
 */
const DEFAULT_PASSES = 7;
const settings: LambdaSettings = {
  quick,
  passes: Number(args.passes ?? (quick ? 1 : DEFAULT_PASSES)),
  seconds: Number(args.seconds ?? (quick ? 0 : 1)),
  invocations: Number(args.invocations ?? 20),
  warmupSeconds: Number(args.warmup ?? (quick ? 0 : 1)),
  concurrency: Number(args.concurrency),
  storm: {
    keys: Number(args['storm-keys'] ?? (quick ? 3 : 20)),
    duplicates: Number(args['storm-duplicates'] ?? (quick ? 4 : 10)),
    delayMs: Number(args['storm-ms'] ?? (quick ? 100 : 500)),
  },
  orderSeed:
    args.seed !== undefined ? Number(args.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32),
  confidence: CONFIDENCE,
};
const entries = pickList<Entry>(args.entries, ENTRIES);
const wantedStores = pickList<LambdaStore>(args.stores, LAMBDA_STORES);
const libraries = pickList<LambdaLibrary>(args.libraries, LAMBDA_LIBRARIES);
const window: WindowLength =
  settings.seconds > 0 ? { seconds: settings.seconds } : { invocations: settings.invocations };
const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CI = process.env.CI === 'true';
const log = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '—';

const failures: { unit: string; error: string }[] = [];
const skipped: { what: string; reason: string }[] = [];

/** Something this run cannot measure: fatal under CI, a loud skip elsewhere. */
function skip(what: string, reason: string): void {
  if (CI) throw new Error(`lambda bench: ${what} under CI=true: ${reason}`);
  const bar = '!'.repeat(78);
  log(
    `\n${bar}\n!! SKIPPING ${what}: ${reason}\n!! Its rows are missing from this run; CI=true makes this an error.\n${bar}\n`,
  );
  skipped.push({ what, reason });
}

/** Redis's version, or undefined (skipped) when it cannot be reached. */
async function redisVersion(): Promise<string | undefined> {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?';
  } catch (error) {
    skip('Redis', `not reachable at ${redisUrl} (${(error as Error).message})`);
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** Deletes every Redis key of this run (idem's prefix and Powertools' both carry the run id). */
async function cleanRedis(): Promise<void> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  log(`redis: deleted ${await deleteRunKeys(client, run)} keys of this run`);
  await client.quit();
}

// --- one configuration ------------------------------------------------------------

interface UnitState {
  readonly unit: LambdaUnit;
  readonly side: LibrarySide;
  readonly app: PaymentsApp;
  readonly handlers: Handlers;
  readonly index: number;
  readonly samples: Record<LambdaPhase, (LambdaSample & { firstFailure?: string })[]>;
  /** What the replayed key answered first: every replay must give the same. */
  reference?: string;
}

/** One invocation of `key`, and the answer to compare replays with (undefined when it failed). */
async function invoke(state: UnitState, key: string): Promise<string | undefined> {
  const answer = await invokeEntry(state.handlers, state.unit.entry, key);
  if (state.unit.entry === 'function') {
    const receipt = answer as Receipt;
    return receipt?.status === 'succeeded' ? JSON.stringify(receipt) : undefined;
  }
  const result = answer as APIGatewayProxyStructuredResultV2;
  return result.statusCode === 201 && typeof result.body === 'string' ? result.body : undefined;
}

async function measureWindow(
  state: UnitState,
  pass: number,
  phase: LambdaPhase,
  length: WindowLength,
): Promise<LambdaSample & { firstFailure?: string }> {
  const prefix = `lambda-${run}-${state.index}-p${pass}`;
  const executions = state.app.executions;
  const before = state.side.counter?.read() ?? NO_COUNT;
  const result = await runWindow(
    async (i) => {
      if (phase === 'first') return (await invoke(state, `${prefix}-${i}`)) !== undefined;
      return (await invoke(state, replayKey(state))) === state.reference;
    },
    length,
    settings.concurrency,
  );
  return {
    pass,
    invocations: result.invocations,
    seconds: result.seconds,
    cpuMicros: result.cpuMicros,
    executions: state.app.executions - executions,
    failures: result.failures,
    store: countDelta(before, state.side.counter?.read() ?? NO_COUNT),
    ...(result.firstFailure ? { firstFailure: result.firstFailure } : {}),
  };
}

const replayKey = (state: UnitState) => `lambda-${run}-${state.index}-replay`;

async function measureUnit(state: UnitState, pass: number): Promise<void> {
  if (pass === 0) {
    if (settings.warmupSeconds > 0) {
      await runWindow(
        (i) => invoke(state, `lambda-${run}-${state.index}-warm-${i}`).then(Boolean),
        { seconds: settings.warmupSeconds },
        settings.concurrency,
      );
    }
    if (state.unit.library !== 'bare') {
      state.reference = await invoke(state, replayKey(state));
      const again = await invoke(state, replayKey(state));
      if (state.reference === undefined || again !== state.reference) {
        failures.push({
          unit: `${lambdaUnitId(state.unit)} replay check`,
          error: `first ${state.reference}; replay ${again}`,
        });
      }
    }
  }
  state.samples.first.push(await measureWindow(state, pass, 'first', window));
  if (state.unit.library === 'bare') return;
  if (pass === 0 && settings.warmupSeconds > 0) {
    await measureWindow(state, pass, 'replay', { seconds: settings.warmupSeconds / 2 });
  }
  state.samples.replay.push(await measureWindow(state, pass, 'replay', window));
}

/**
 * DynamoDB requests per invocation as AWS answers a lost claim (the item in
 * the way comes back with the failed condition; dynalite leaves it out, and
 * both libraries then read it with a second request): a count of each
 * library's own requests over a window of each phase, not a speed.
 */
async function countAsOnAws(
  servers: Servers,
  stores: readonly LambdaStore[],
  sides: LibrarySide[],
  firstIndex: number,
): Promise<LambdaRow[]> {
  const rows: LambdaRow[] = [];
  if (!stores.includes('dynamodb')) return rows;
  let index = firstIndex;
  for (const library of libraries.filter((l) => l !== 'bare')) {
    let side: LibrarySide;
    try {
      side = await openSide(library, 'dynamodb', { ...servers, conflictsWithItem: true });
    } catch {
      continue; // reported when the timed rows' side failed to open
    }
    sides.push(side);
    for (const entry of entries) {
      const unit: LambdaUnit = { entry, store: 'dynamodb', library };
      const app = new PaymentsApp();
      const state: UnitState = {
        unit,
        side,
        app,
        handlers: side.instance(app),
        index: index++,
        samples: { first: [], replay: [] },
      };
      try {
        state.reference = await invoke(state, replayKey(state));
        const length = { invocations: settings.invocations };
        for (const phase of ['first', 'replay'] as const) {
          const sample = await measureWindow(state, 0, phase, length);
          rows.push(summarizeLambda(unit, phase, [sample], new Map()));
        }
      } catch (error) {
        failures.push({
          unit: `${lambdaUnitId(unit)} (conflicts answered as on AWS)`,
          error: (error as Error).message,
        });
      }
    }
  }
  return rows;
}

/**
 * The storms of a side: duplicates all at once, and spread over the
 * handler's run (a retry arriving while the first is in flight, another
 * later); idem both ways of treating a duplicate in flight.
 */
function stormVariants(side: LibrarySide): [Concurrent | undefined, boolean][] {
  const modes = side.library === 'idem' ? (['reject', 'wait'] as const) : [undefined];
  return modes.flatMap((mode) => [
    [mode, false],
    [mode, true],
  ]);
}

// --- the run ------------------------------------------------------------------------

function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [
    '@aws-lambda-powertools/idempotency',
    '@aws-sdk/client-dynamodb',
    '@redis/client',
    '@middy/core',
    'ioredis',
    'dynalite',
  ]) {
    const file = join(root, 'node_modules', name, 'package.json');
    if (existsSync(file))
      out[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return out;
}

async function main(): Promise<number> {
  // Before any Redis client connects: the counter wraps the sockets it opens.
  watchPorts(new Map([[Number(new URL(redisUrl).port || 6379), 'resp']]));
  process.env.AWS_LAMBDA_FUNCTION_NAME ??= 'bench-payments';
  log(
    `lambda bench${quick ? ' (quick smoke: everything runs; nothing about speed)' : ''}: ${settings.passes} pass(es), ${settings.seconds > 0 ? `${settings.seconds} s` : `${settings.invocations} invocations`} per phase, ${settings.concurrency} in flight, run ${run}, order seed ${settings.orderSeed}`,
  );
  const redis = wantedStores.includes('redis') ? await redisVersion() : undefined;
  const stores = wantedStores.filter((s) => s !== 'redis' || redis !== undefined);
  const dynalite = stores.includes('dynamodb') ? await startDynalite() : undefined;
  const servers: Servers = { run, redisUrl, dynamoEndpoint: dynalite?.endpoint ?? '' };
  if (dynalite) await createTables(servers);

  const sides: LibrarySide[] = [];
  const states: UnitState[] = [];
  try {
    if (libraries.includes('bare')) sides.push(bareSide());
    for (const store of stores) {
      for (const library of libraries.filter((l) => l !== 'bare')) {
        try {
          sides.push(await openSide(library, store, servers));
        } catch (error) {
          failures.push({ unit: `${library} on ${store}`, error: (error as Error).message });
        }
      }
    }
    const units = planLambdaUnits(entries, stores, libraries).filter((u) =>
      sides.some((s) => s.library === u.library && s.store === u.store),
    );
    for (const [index, unit] of units.entries()) {
      const side = sides.find((s) => s.library === unit.library && s.store === unit.store)!;
      const app = new PaymentsApp();
      states.push({
        unit,
        side,
        app,
        handlers: side.instance(app),
        index,
        samples: { first: [], replay: [] },
      });
    }
    log(
      `${units.length} configurations (${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
    );

    const random = seededRandom(settings.orderSeed);
    for (let pass = 0; pass < settings.passes; pass++) {
      for (const entry of entries) {
        const inEntry = states.filter((s) => s.unit.entry === entry);
        const bare = inEntry.find((s) => s.unit.library === 'bare');
        const measure = async (state: UnitState) => {
          try {
            await measureUnit(state, pass);
          } catch (error) {
            failures.push({
              unit: `${lambdaUnitId(state.unit)} pass ${pass + 1}`,
              error: (error as Error).message,
            });
          }
        };
        if (bare) await measure(bare);
        const order = lambdaPassOrder(
          inEntry.map((s) => s.unit),
          random,
        );
        for (const unit of order) {
          const state = inEntry.find((s) => s.unit === unit)!;
          await measure(state);
          const f = state.samples.first.at(-1);
          const r = state.samples.replay.at(-1);
          if (f && r) {
            log(
              `pass ${pass + 1} ${lambdaUnitId(unit).padEnd(26)} first ${fmt(f.invocations / f.seconds).padStart(6)}/s  replay ${fmt(r.invocations / r.seconds).padStart(6)}/s  store requests ${fmt(f.store.requests / f.invocations, 2)} / ${fmt(r.store.requests / r.invocations, 2)}${f.failures + r.failures ? `  failures ${f.failures + r.failures}` : ''}`,
            );
          }
        }
        if (bare) {
          await measure(bare);
          const runs = bare.samples.first.filter((s) => s.pass === pass);
          log(
            `pass ${pass + 1} ${lambdaUnitId(bare.unit).padEnd(26)} ${runs.map((s) => fmt(s.invocations / s.seconds)).join(' / ')}/s (before / after)`,
          );
        }
      }
    }

    const rows: LambdaRow[] = [];
    for (const entry of entries) {
      const bare = states.find((s) => s.unit.entry === entry && s.unit.library === 'bare');
      const bareByPass = bareRateByPass(bare?.samples.first ?? []);
      for (const state of states.filter((s) => s.unit.entry === entry)) {
        for (const phase of ['first', 'replay'] as const) {
          const samples = state === bare ? mergeByPass(state.samples[phase]) : state.samples[phase];
          if (samples.length > 0)
            rows.push(summarizeLambda(state.unit, phase, samples, bareByPass));
        }
      }
    }

    const asOnAws = await countAsOnAws(servers, stores, sides, states.length);
    // DynamoDB storms on the sides that answer lost claims as AWS does, so a duplicate's requests are AWS's.
    const stormSides = sides.filter(
      (s) =>
        s.library !== 'bare' &&
        (s.store !== 'dynamodb' || s.conflictsWithItem || asOnAws.length === 0),
    );

    const storms: LambdaStormResult[] = [];
    if (!args['no-storm']) {
      for (const side of stormSides) {
        for (const entry of entries) {
          for (const [concurrent, spread] of stormVariants(side)) {
            const name = `${entry}/${side.store}/${side.library}${concurrent ? ` (${concurrent})` : ''}${spread ? ' spread' : ''}`;
            try {
              const result = await runLambdaStorm(
                side,
                entry,
                { ...settings.storm, spread, keyPrefix: `lambda-${run}-storm-${storms.length}` },
                concurrent,
              );
              const first = rows.find(
                (r) => r.phase === 'first' && lambdaUnitId(r.unit) === lambdaUnitId(result.unit),
              );
              storms.push({
                ...result,
                ...(first
                  ? {
                      storeRequestsPerDuplicate: requestsPerDuplicate(
                        result.store.requests,
                        result.keys,
                        result.duplicates,
                        first.storeRequestsPerInvocation,
                      ),
                    }
                  : {}),
              });
              log(
                `storm ${name.padEnd(34)} ${result.exactlyOnce ? 'exactly once' : 'NOT exactly once'}: ${result.executions} executions for ${result.keys} keys; answers ${JSON.stringify(result.answers)}; ${fmt(result.store.requests / result.invocations, 2)} store requests per invocation`,
              );
            } catch (error) {
              failures.push({ unit: `storm ${name}`, error: (error as Error).message });
            }
          }
        }
      }
    }

    const results: LambdaResults = {
      version: 1,
      date: new Date().toISOString(),
      commit: gitCommit(),
      run,
      durationSeconds: Math.round((performance.now() - started) / 1000),
      settings,
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        node: process.version,
        ...(redis ? { redis } : {}),
        dynamodb: `dynalite ${versions().dynalite ?? '?'} in a child process`,
      },
      versions: versions(),
      libraries,
      rows,
      ...(asOnAws.length > 0 ? { conflictsWithItemRows: asOnAws } : {}),
      storms,
      failures,
      skipped,
    };
    const out =
      args.out ??
      join(root, quick ? '.tmp' : 'results', quick ? 'lambda-quick.json' : 'lambda.json');
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
    printSummary(results);
    log(`\nresults: ${out} (${results.durationSeconds} s)`);
    const problems = lambdaProblems(results);
    if (problems.length > 0) {
      log(`\nFAILED:\n- ${problems.join('\n- ')}`);
      return 1;
    }
    return 0;
  } finally {
    for (const side of sides) await side.close().catch((e: Error) => log(`close: ${e.message}`));
    if (redis) await cleanRedis().catch((e: Error) => log(`redis cleanup: ${e.message}`));
    if (dynalite) {
      dynalite.child.kill('SIGTERM');
      await once(dynalite.child, 'exit');
    }
  }
}

function printSummary(results: LambdaResults): void {
  log('\nrow                         phase    inv/s  × bare  CPU µs/inv  store req/inv');
  for (const r of results.rows) {
    log(
      `${lambdaUnitId(r.unit).padEnd(28)}${r.phase.padEnd(7)} ${fmt(r.rps).padStart(7)} ${fmt(r.ratio, 2).padStart(7)} ${fmt(r.cpuMicrosPerInvocation).padStart(11)} ${fmt(r.storeRequestsPerInvocation, 2).padStart(14)}${r.failures ? `  failures ${r.failures}: ${r.firstFailure}` : ''}`,
    );
  }
  if (results.settings.quick) return;
  log('\nidem / Powertools, pass by pass: geometric mean [95 % interval]; > 1 favours idem');
  for (const c of lambdaComparisons(results)) {
    const { rps, cpu, standing } = c.comparison;
    log(
      `${`${c.entry}/${c.store}`.padEnd(18)}${c.phase.padEnd(7)} inv/s ${intervalText(rps).padEnd(22)} CPU ${cpu ? intervalText(cpu) : '—'}  ${standing}`,
    );
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
