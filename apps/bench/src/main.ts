/**
 * `pnpm bench` (full) and `pnpm bench:quick` (smoke): runs every server
 * configuration as a child process of its own, drives it with wrk (or
 * autocannon), counts store round trips and handler executions, runs the
 * retry storm, the fingerprint micro-benchmark and the memory measurement,
 * and writes results/results.json, BENCHMARKS.md and results/throughput.svg.
 *
 * Options: --quick, --passes N, --seconds N, --warmup N, --only SUBSTRING,
 * --frameworks a,b --stores a,b --libraries a,b, --autocannon, --source
 * (servers from TypeScript sources through tsx: for tests, never for figures),
 * --no-pin, --seed N (the order within each pass), --out FILE.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bunBinary } from './bun-binary.js';
import { intervalText, peerComparisons } from './compare.js';
import {
  BUN_FRAMEWORKS,
  FRAMEWORKS,
  type Framework,
  isOurs,
  LIBRARIES,
  type Library,
  planUnits,
  type ServerConfig,
  type ServerEnv,
  type ServerStats,
  STORES,
  type StoreKind,
  type Unit,
  unitId,
} from './config.js';
import { deleteRunKeys, gitCommit, pickList } from './housekeeping.js';
import {
  detectTools,
  type LoadResult,
  packageRoot,
  runCount,
  runLoad,
  type Tools,
} from './load.js';
import { renderReport } from './report.js';
import type {
  BareRow,
  FingerprintRow,
  Machine,
  MemoryResult,
  Phase,
  Results,
  Row,
  Sample,
  Settings,
  StormRow,
} from './results.js';
import { WITHOUT_CONTEXT_PATH } from './server/context.js';
import { CONFIDENCE, median, seededRandom, shuffled } from './stats.js';
import { runStorm } from './storm.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const require = createRequire(import.meta.url);
const started = performance.now();

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    passes: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    only: { type: 'string' },
    frameworks: { type: 'string' },
    stores: { type: 'string' },
    libraries: { type: 'string' },
    autocannon: { type: 'boolean', default: false },
    source: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    seed: { type: 'string' },
    out: { type: 'string' },
  },
});

const quick = args.quick ?? false;
const list = pickList;
const filtered = Boolean(args.only || args.frameworks || args.stores || args.libraries);

const cores = os.cpus().length;
const pin = !args['no-pin'] && !quick && cores >= 2;
/**
 * Passes of a full run. Each peer verdict is an interval over the passes
 * (Student's t with passes − 1 degrees of freedom), so more passes of 1 s
 * phases (wrk's shortest) narrow it more than fewer, longer ones would. A
 * pass of every configuration is 88 phases of about 1.3 s each (wrk's start
 * and the settled server stats around every second of load), about 115 s on
 * 2 cores; the four-pass runs took 490–530 s in all. Seven passes keep a
 * full run near 14 minutes.
 * @default 7
 */
const DEFAULT_PASSES = 7;
const settings: Settings = {
  quick,
  passes: Number(args.passes ?? (quick ? 1 : DEFAULT_PASSES)),
  seconds: Number(args.seconds ?? (quick ? 0 : 1)),
  warmupSeconds: Number(args.warmup ?? (quick ? 0 : 1)),
  connections: 10,
  storm: quick
    ? { keys: 10, sendsPerKey: 5, connections: 20, delayMs: 10 }
    : { keys: 200, sendsPerKey: 5, connections: 50, delayMs: 20 },
  memoryMaxRecords: 2_000_000,
  ...(pin ? { serverCpu: 0, generatorCpu: 1 } : {}),
  runFrom: args.source ? 'source' : 'dist',
  // Printed and kept in results.json: `--seed` runs the same order again.
  orderSeed:
    args.seed !== undefined ? Number(args.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32),
  confidence: CONFIDENCE,
};
/** Quick mode sends a fixed number of requests per phase with a small Node client instead. */
const QUICK_REQUESTS = 60;
/** dynalite answers a few hundred requests a second. */
const QUICK_REQUESTS_DYNAMODB = 30;

const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
const env: ServerEnv = {
  runId,
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  pgTable: `idem_bench_${runId}`,
  dynamoEndpoint: '',
  dynamoTable: `idem-bench-${runId}`,
  powertoolsTable: `powertools-bench-${runId}`,
};

const log = (line = '') => process.stdout.write(`${line}\n`);
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- services ----------------------------------------------------------------

interface Services {
  env: ServerEnv;
  skipped: StoreKind[];
  redisVersion?: string;
  postgresVersion?: string;
  dynaliteRequests(): number;
  /** DynamoDB API actions dynalite received, by name. */
  dynaliteOps(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

function unreachable(store: string, url: string, error: unknown): void {
  const message = `${store} is not reachable at ${url.replace(/\/\/[^@/]*@/, '//')} (${(error as Error).message}).`;
  if (process.env.CI === 'true') {
    throw new Error(`${message} Under CI=true every store must run: start it or fix the URL.`);
  }
  log(
    `\n${'!'.repeat(78)}\n!! SKIPPING ${store}: ${message}\n!! Start it (or set the URL) to measure it.\n${'!'.repeat(78)}\n`,
  );
}

async function openServices(stores: readonly StoreKind[]): Promise<Services> {
  const skipped: StoreKind[] = [];
  const closers: (() => Promise<void>)[] = [];
  let redisVersion: string | undefined;
  let postgresVersion: string | undefined;
  let dynamoEndpoint = '';
  let dynaliteRequests = 0;
  const dynaliteOps: Record<string, number> = {};

  if (stores.includes('redis')) {
    const { Redis } = await import('ioredis');
    const client = new Redis(env.redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      const info = await client.info('server');
      redisVersion = /redis_version:(\S+)/.exec(info)?.[1];
      closers.push(async () => {
        // Every key this run wrote carries the run id (idem's prefix, the peers' prefixes, the raw keys).
        const deleted = await deleteRunKeys(client, runId);
        log(`redis: deleted ${deleted} keys of this run`);
        await client.quit();
      });
    } catch (error) {
      client.disconnect();
      unreachable('Redis', env.redisUrl, error);
      skipped.push('redis');
    }
  }

  if (stores.includes('postgres')) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({
      connectionString: env.databaseUrl,
      connectionTimeoutMillis: 2_000,
      max: 2,
    });
    pool.on('error', () => {});
    try {
      const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
      postgresVersion = rows[0]?.server_version;
      const { postgresStore } = await import('@idem/store-postgres');
      await postgresStore({ pool, table: env.pgTable }).migrate();
      closers.push(async () => {
        await pool.query(`DROP TABLE IF EXISTS "${env.pgTable}"`);
        log(`postgres: dropped ${env.pgTable}`);
        await pool.end();
      });
    } catch (error) {
      await pool.end().catch(() => {});
      unreachable('PostgreSQL', env.databaseUrl, error);
      skipped.push('postgres');
    }
  }

  if (stores.includes('dynamodb')) {
    // dynalite (the DynamoDB API, in memory) in this process, on an ephemeral port.
    const dynalite = require('dynalite') as (options: { createTableMs: number }) => Server;
    const server = dynalite({ createTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    server.on('request', (req: { headers: Record<string, string | undefined> }) => {
      dynaliteRequests++;
      const op = req.headers['x-amz-target']?.split('.')[1] ?? 'unknown';
      dynaliteOps[op] = (dynaliteOps[op] ?? 0) + 1;
    });
    dynamoEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { DynamoDBClient, CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
    const client = new DynamoDBClient({
      endpoint: dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    const { dynamoDbStore } = await import('@idem/store-dynamodb');
    await dynamoDbStore({ client, tableName: env.dynamoTable }).createTable();
    // Powertools' documented table: partition key `id`.
    await client.send(
      new CreateTableCommand({
        TableName: env.powertoolsTable,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    closers.push(async () => {
      client.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
  }

  return {
    env: { ...env, dynamoEndpoint },
    skipped,
    ...(redisVersion ? { redisVersion } : {}),
    ...(postgresVersion ? { postgresVersion } : {}),
    dynaliteRequests: () => dynaliteRequests,
    dynaliteOps: () => ({ ...dynaliteOps }),
    async close() {
      for (const close of closers) await close().catch((e: Error) => log(`cleanup: ${e.message}`));
    },
  };
}

// --- servers -----------------------------------------------------------------

interface Running {
  readonly unit: Unit;
  readonly index: number;
  readonly child: ChildProcess;
  readonly port: number;
  stderr: string;
}

function serverCommand(config: ServerConfig, script: 'server' | 'micro', extra: string[] = []) {
  const root = packageRoot();
  const bun = BUN_FRAMEWORKS.includes(config.unit.framework);
  // Bun runs TypeScript itself; Node through tsx.
  const sourceLoader = bun ? [] : ['--import', 'tsx'];
  const entry =
    settings.runFrom === 'source'
      ? [...sourceLoader, '--conditions=@idem/source', join(root, 'src', `${script}.ts`)]
      : [join(root, 'dist', `${script}.js`)];
  const argv = [...extra, ...entry, JSON.stringify(config)];
  const runtime = bun ? bunPath() : process.execPath;
  return settings.serverCpu !== undefined
    ? { command: 'taskset', args: ['-c', String(settings.serverCpu), runtime, ...argv] }
    : { command: runtime, args: argv };
}

function bunPath(): string {
  const found = bunBinary();
  if ('missing' in found) throw new Error(`Bun is not available: ${found.missing}.`);
  return found.path;
}

/** The Bun rows need Bun: without it they are skipped with a banner, and under CI=true the run fails. */
function bunSkipped(frameworks: readonly Framework[]): boolean {
  if (!frameworks.some((f) => BUN_FRAMEWORKS.includes(f))) return false;
  const found = bunBinary();
  if (!('missing' in found)) return false;
  const message = `Bun is not available: ${found.missing}.`;
  if (process.env.CI === 'true') {
    throw new Error(`${message} Under CI=true every runtime must run: npx -y pnpm@10 install.`);
  }
  log(`\n${'!'.repeat(78)}\n!! SKIPPING the Bun.serve rows: ${message}\n${'!'.repeat(78)}\n`);
  return true;
}

async function startServer(unit: Unit, index: number, services: Services): Promise<Running> {
  const { command, args: argv } = serverCommand({ ...services.env, unit }, 'server');
  const child = spawn(command, argv, { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no READY within 60 s\n${stderr}`));
    }, 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\{.*\})/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve((JSON.parse(m[1]!) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before READY\n${stderr}`));
    });
  });
  const running: Running = { unit, index, child, port, stderr };
  child.stderr?.on('data', (d: Buffer) => {
    if (running.stderr.length < 20_000) running.stderr += d.toString();
  });
  return running;
}

async function stopServer(s: Running): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

async function stats(s: Running): Promise<ServerStats> {
  const res = await fetch(`http://127.0.0.1:${s.port}/stats`);
  return (await res.json()) as ServerStats;
}

/** Stats once the server is quiet: requests cut off at the end of a window finish first. */
async function settledStats(s: Running, services: Services): Promise<ServerStats> {
  let last = await stats(s);
  let dyn = services.dynaliteRequests();
  for (let i = 0; i < 100; i++) {
    await sleep(10);
    const now = await stats(s);
    const dynNow = services.dynaliteRequests();
    const quiet =
      now.storeCalls === last.storeCalls && now.executions === last.executions && dynNow === dyn;
    if (quiet) return now;
    last = now;
    dyn = dynNow;
  }
  return last;
}

async function post(port: number, key: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: '{"amount":1999,"currency":"eur","description":"bench"}',
  });
  return { status: res.status, body: await res.text() };
}

// --- measuring ------------------------------------------------------------------

const tools: Tools | undefined = quick
  ? undefined
  : detectTools(args.autocannon ? 'autocannon' : undefined);

async function load(
  s: Running,
  keys: 'fresh' | 'fixed',
  key: string,
  seconds: number,
): Promise<LoadResult> {
  const port = s.port;
  if (!tools) {
    const requests = s.unit.store === 'dynamodb' ? QUICK_REQUESTS_DYNAMODB : QUICK_REQUESTS;
    return runCount({ port, keys, key, requests, connections: settings.connections });
  }
  return runLoad(tools, {
    port,
    seconds,
    connections: settings.connections,
    keys,
    key,
    ...(settings.generatorCpu !== undefined ? { cpu: settings.generatorCpu } : {}),
  });
}

async function measure(
  s: Running,
  services: Services,
  keys: 'fresh' | 'fixed',
  key: string,
): Promise<Omit<Sample, 'pass'>> {
  const before = await settledStats(s, services);
  const dynBefore = services.dynaliteRequests();
  const dynOpsBefore = services.dynaliteOps();
  const result = await load(s, keys, key, settings.seconds);
  const after = await settledStats(s, services);
  const dynamo = s.unit.store === 'dynamodb';
  return {
    ...result,
    storeCalls: dynamo
      ? services.dynaliteRequests() - dynBefore
      : after.storeCalls - before.storeCalls,
    storeOps: dynamo
      ? difference(services.dynaliteOps(), dynOpsBefore)
      : difference(after.storeOps, before.storeOps),
    posts: after.posts - before.posts,
    executions: after.executions - before.executions,
    cpuMicros: after.cpuMicros - before.cpuMicros,
  };
}

function difference(
  after: Readonly<Record<string, number>>,
  before: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) {
    const d = n - (before[name] ?? 0);
    if (d !== 0) out[name] = d;
  }
  return out;
}

interface UnitState {
  readonly server: Running;
  readonly samples: Record<Phase, Sample[]>;
  replayKey: string;
  replayCheck?: string;
}

async function measureUnit(state: UnitState, services: Services, pass: number): Promise<void> {
  const s = state.server;
  const prefix = `bench-${runId}-${s.index}`;
  if (pass === 0 && settings.warmupSeconds > 0) {
    await load(s, 'fresh', `${prefix}-warm`, settings.warmupSeconds);
  }
  state.samples.fresh.push({
    ...(await measure(s, services, 'fresh', `${prefix}-p${pass}`)),
    pass,
  });
  if (pass === 0) {
    // One completed key, replayed by every request of the replay windows.
    const first = await post(s.port, state.replayKey);
    await sleep(50); // express-idempotency records the response after sending it
    const again = await post(s.port, state.replayKey);
    state.replayCheck =
      first.status === 201 && again.status === 201 && again.body === first.body
        ? 'ok'
        : `first ${first.status} ${first.body.slice(0, 80)}; retry ${again.status} ${again.body.slice(0, 80)}`;
    if (settings.warmupSeconds > 0) {
      // The replay path's own warmup: a short burst from a Node client (wrk runs whole seconds).
      const { port } = s;
      await runCount({
        port,
        keys: 'fixed',
        key: state.replayKey,
        requests: 5_000,
        connections: 10,
        maxSeconds: 0.5,
      });
    }
  }
  state.samples.replay.push({
    ...(await measure(s, services, 'fixed', state.replayKey)),
    pass,
  });
}

/**
 * One framework's configurations in the order one pass measures them: the
 * stores in a shuffled order, and each store's configurations shuffled
 * within it. A store's rows stay together so idem and the peers it is
 * compared with run close in time (what the machine does in between shifts
 * both); the shuffle, drawn from the run's seed, keeps any drift over a pass
 * from favouring whichever library would otherwise always run first.
 */
function passOrder(units: readonly Unit[], random: () => number): Unit[] {
  const stores = [...new Set(units.map((u) => u.store))];
  return shuffled(stores, random).flatMap((store) =>
    shuffled(
      units.filter((u) => u.store === store),
      random,
    ),
  );
}

function summarize(samples: readonly Sample[], bareByPass: ReadonlyMap<number, number>) {
  const sum = (f: (x: Sample) => number) => samples.reduce((a, x) => a + f(x), 0);
  const posts = sum((x) => x.posts);
  const ops: Record<string, number> = {};
  for (const x of samples) {
    for (const [name, n] of Object.entries(x.storeOps)) ops[name] = (ops[name] ?? 0) + n;
  }
  for (const name of Object.keys(ops)) ops[name] = ops[name]! / posts;
  return {
    rps: median(samples.map((x) => x.rps)),
    p50Ms: median(samples.map((x) => x.p50Ms)),
    p99Ms: median(samples.map((x) => x.p99Ms)),
    ratio: median(samples.map((x) => x.rps / (bareByPass.get(x.pass) ?? Number.NaN))),
    passRps: samples.map((x) => x.rps),
    passRatios: samples.map((x) => x.rps / (bareByPass.get(x.pass) ?? Number.NaN)),
    passes: samples.map((x) => x.pass),
    passCpuMicrosPerRequest: samples.map((x) => (x.posts > 0 ? x.cpuMicros / x.posts : Number.NaN)),
    storeCallsPerRequest: posts > 0 ? sum((x) => x.storeCalls) / posts : Number.NaN,
    storeOpsPerRequest: posts > 0 ? ops : {},
    executionsPerRequest: posts > 0 ? sum((x) => x.executions) / posts : Number.NaN,
    cpuMicrosPerRequest: posts > 0 ? sum((x) => x.cpuMicros) / posts : Number.NaN,
    non2xx: sum((x) => x.non2xx),
    errors: sum((x) => x.errors),
    requests: sum((x) => x.requests),
  };
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '—';
}

// --- micro-benchmarks --------------------------------------------------------

async function runMicro(mode: 'fingerprint' | 'memory'): Promise<unknown> {
  const { command, args: argv } = serverCommand(
    { ...env, unit: { framework: 'hono', store: 'memory', library: 'idem' } },
    'micro',
    // Optimised code installed at the same point every run: what a fresh key
    // allocates otherwise depends on when a background compile lands.
    mode === 'memory' ? ['--expose-gc', '--no-concurrent-recompilation'] : ['--expose-gc'],
  );
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(command, [...argv, mode, quick ? 'quick' : 'full'], {
      cwd: packageRoot(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(text)
        : reject(new Error(`micro-benchmark ${mode} exited ${code}\n${text}`)),
    );
  });
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`micro-benchmark ${mode} printed no result:\n${out}`);
  return JSON.parse(line.slice('BENCH_JSON '.length));
}

// --- the run -------------------------------------------------------------------

function machine(services: Services): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {}
  return {
    cpu,
    cores,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    generator: tools
      ? `${tools.generatorVersion}, 1 thread, ${settings.connections} connections`
      : `${QUICK_REQUESTS} requests per phase from a Node http client (quick mode)`,
    taskset: settings.serverCpu !== undefined,
    ...(services.redisVersion ? { redis: services.redisVersion } : {}),
    ...(services.postgresVersion ? { postgres: services.postgresVersion } : {}),
    ...(bunVersion() ? { bun: bunVersion() } : {}),
  };
}

function bunVersion(): string | undefined {
  const found = bunBinary();
  if ('missing' in found) return undefined;
  try {
    return execFileSync(found.path, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const wantedFrameworks = list<Framework>(args.frameworks, FRAMEWORKS);
  const frameworks = bunSkipped(wantedFrameworks)
    ? wantedFrameworks.filter((f) => !BUN_FRAMEWORKS.includes(f))
    : wantedFrameworks;
  const libraries = list<Library>(args.libraries, LIBRARIES);
  const wantedStores = list<StoreKind>(args.stores, STORES);
  log(
    `idem bench ${quick ? '(quick smoke: asserts that everything runs, nothing about speed)' : ''}`,
  );
  log(
    `load generator: ${tools ? `${tools.generator} (${tools.generatorVersion})` : `Node http client, ${QUICK_REQUESTS} requests per phase`}; ` +
      `${settings.serverCpu !== undefined ? 'server pinned to CPU 0, load generator to CPU 1 (taskset)' : 'not pinned'}; ` +
      `servers run from ${settings.runFrom === 'dist' ? 'built dist' : 'TypeScript sources (tsx)'}`,
  );
  if (tools?.generator === 'autocannon')
    log('wrk not found: using autocannon (apt-get install wrk for steadier figures)');

  const services = await openServices(wantedStores);
  const stores = wantedStores.filter((s) => !services.skipped.includes(s));
  let units = planUnits({ frameworks, stores, libraries });
  if (args.only) units = units.filter((u) => unitId(u).includes(args.only!));
  log(
    `${units.length} server configurations, ${settings.passes} pass(es), ${settings.seconds || `${QUICK_REQUESTS} req`}${settings.seconds ? ' s' : ''} per phase, run ${runId}, order seed ${settings.orderSeed} (--seed ${settings.orderSeed} repeats the order)\n`,
  );

  const failures: { unit: string; error: string }[] = [];
  const states = new Map<Unit, UnitState>();
  try {
    // Start every server once; each keeps its own process (and JIT) for the whole run.
    const queue = units.map((unit, index) => ({ unit, index }));
    const starters = Array.from({ length: quick ? 4 : 2 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        try {
          const server = await startServer(next.unit, next.index, services);
          states.set(next.unit, {
            server,
            samples: { fresh: [], replay: [] },
            replayKey: `bench-${runId}-${next.index}-replay`,
          });
        } catch (error) {
          failures.push({ unit: unitId(next.unit), error: (error as Error).message });
          log(`FAILED to start ${unitId(next.unit)}: ${(error as Error).message}`);
        }
      }
    });
    await Promise.all(starters);
    log(`${states.size} servers started (${elapsed()})`);

    const bare = new Map<Framework, Sample[][]>();
    const random = seededRandom(settings.orderSeed ?? 0);
    for (let pass = 0; pass < settings.passes; pass++) {
      for (const framework of frameworks) {
        const inFramework = units.filter((u) => u.framework === framework && states.has(u));
        const bareUnit = inFramework.find((u) => u.library === 'bare');
        const others = passOrder(
          inFramework.filter((u) => u.library !== 'bare'),
          random,
        );
        const bareRuns: Sample[] = [];
        const runBare = async () => {
          if (!bareUnit) return;
          const state = states.get(bareUnit)!;
          try {
            await measureUnitBare(state, services, pass, bareRuns.length);
            bareRuns.push(state.samples.fresh.at(-1)!);
          } catch (error) {
            failures.push({ unit: unitId(bareUnit), error: (error as Error).message });
          }
        };
        await runBare();
        for (const unit of others) {
          const state = states.get(unit)!;
          try {
            await measureUnit(state, services, pass);
            const f = state.samples.fresh.at(-1)!;
            const r = state.samples.replay.at(-1)!;
            log(
              `pass ${pass + 1} ${unitId(unit).padEnd(42)} fresh ${fmt(f.rps).padStart(7)} req/s  replay ${fmt(r.rps).padStart(7)} req/s  store calls/req ${fmt(f.storeCalls / f.posts, 2)} / ${fmt(r.storeCalls / r.posts, 2)}${f.non2xx + r.non2xx ? `  non-2xx ${f.non2xx + r.non2xx}` : ''}`,
            );
          } catch (error) {
            failures.push({
              unit: `${unitId(unit)} pass ${pass + 1}`,
              error: (error as Error).message,
            });
            log(`FAILED ${unitId(unit)} pass ${pass + 1}: ${(error as Error).message}`);
          }
        }
        await runBare();
        if (bareRuns.length > 0) {
          const passes = bare.get(framework) ?? [];
          passes.push(bareRuns);
          bare.set(framework, passes);
          log(
            `pass ${pass + 1} ${`${framework}/bare`.padEnd(42)} ${bareRuns.map((r) => fmt(r.rps)).join(' / ')} req/s (before / after)`,
          );
        }
      }
    }

    log(`passes done (${elapsed()})`);
    // The retry storm, once per configuration that has an idempotency layer.
    const storms: StormRow[] = [];
    for (const unit of units) {
      const state = states.get(unit);
      if (!state || unit.library === 'bare') continue;
      try {
        const result = await runStorm({
          port: state.server.port,
          ...settings.storm,
          keyPrefix: `bench-${runId}-${state.server.index}-storm`,
        });
        storms.push({ unit, result });
        if (unit.library === 'powertools' && unit.store === 'redis') {
          const bare = await runStorm({
            port: state.server.port,
            ...settings.storm,
            keyPrefix: `bench-${runId}-${state.server.index}-storm-nocontext`,
            path: WITHOUT_CONTEXT_PATH,
          });
          storms.push({ unit, variant: 'without a Lambda context', result: bare });
          log(
            `storm ${`${unitId(unit)} (no context)`.padEnd(42)} ${bare.exactlyOnce ? 'exactly once' : 'NOT exactly once'}: ${bare.executions} executions for ${bare.keys} keys (max ${bare.maxPerKey} per key); responses ${JSON.stringify(bare.statuses)}`,
          );
        }
        log(
          `storm ${unitId(unit).padEnd(42)} ${result.exactlyOnce ? 'exactly once' : 'NOT exactly once'}: ${result.executions} executions for ${result.keys} keys (max ${result.maxPerKey} per key); responses ${JSON.stringify(result.statuses)}`,
        );
      } catch (error) {
        failures.push({ unit: `${unitId(unit)} storm`, error: (error as Error).message });
      }
    }

    for (const state of states.values()) await stopServer(state.server);
    await services.close();

    log(`\nmicro-benchmarks: fingerprint and memory store footprint (${elapsed()})`);
    const micro = {
      fingerprint: (await runMicro('fingerprint')) as FingerprintRow[],
      memory: (await runMicro('memory')) as MemoryResult,
    };

    const bareRows: BareRow[] = [];
    const barePerPass = new Map<Framework, Map<number, number>>();
    for (const [framework, passes] of bare) {
      // A pass's baseline: the mean of its runs before and after the configurations.
      const perPass = passes.map((runs) => runs.reduce((a, r) => a + r.rps, 0) / runs.length);
      barePerPass.set(framework, new Map(passes.map((runs, i) => [runs[0]!.pass, perPass[i]!])));
      const samples = passes.flat();
      bareRows.push({
        framework,
        rps: median(perPass),
        p50Ms: median(samples.map((s) => s.p50Ms)),
        p99Ms: median(samples.map((s) => s.p99Ms)),
        passRps: perPass,
        cpuMicrosPerRequest:
          samples.reduce((a, s) => a + s.cpuMicros, 0) / samples.reduce((a, s) => a + s.posts, 0),
        passes: passes.map((runs) => runs[0]!.pass),
        passCpuMicrosPerRequest: passes.map(
          (runs) =>
            runs.reduce((a, r) => a + r.cpuMicros, 0) / runs.reduce((a, r) => a + r.posts, 0),
        ),
      });
    }
    const rows: Row[] = [];
    for (const unit of units) {
      const state = states.get(unit);
      if (!state || unit.library === 'bare') continue;
      const bareByPass = barePerPass.get(unit.framework) ?? new Map<number, number>();
      for (const phase of ['fresh', 'replay'] as const) {
        if (state.samples[phase].length === 0) continue;
        rows.push({ unit, phase, ...summarize(state.samples[phase], bareByPass) });
      }
      if (state.replayCheck && state.replayCheck !== 'ok') {
        failures.push({ unit: `${unitId(unit)} replay check`, error: state.replayCheck });
      }
    }

    const results: Results = {
      version: 1,
      date: new Date().toISOString(),
      commit: gitCommit(),
      runId,
      durationSeconds: Math.round((performance.now() - started) / 1000),
      machine: machine(services),
      settings,
      bare: bareRows,
      rows,
      storms,
      fingerprint: micro.fingerprint,
      ...(micro.memory ? { memory: micro.memory } : {}),
      unavailable: UNAVAILABLE,
      failures,
      skippedStores: services.skipped,
      libraries,
    };

    const root = packageRoot();
    const out =
      args.out ??
      (quick || filtered
        ? join(root, '.tmp', `bench-${quick ? 'quick' : 'partial'}.json`)
        : join(root, 'results', 'results.json'));
    await mkdir(join(out, '..'), { recursive: true });
    await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
    log(`\nresults: ${out}`);
    // The Lambda section: its own smoke in quick mode, its figures in a full run.
    const lambdaCode = filtered
      ? 0
      : await measureLambda(
          join(root, quick ? '.tmp' : 'results', `lambda${quick ? '-quick' : ''}.json`),
        );
    if (!quick && !filtered) {
      await measureRedisCpu(join(root, 'results', 'redis-cpu.json'));
      await measureCost(join(root, 'results', 'cost.json'));
      const written = await renderReport(results, join(root, '..', '..'));
      for (const file of written) log(`wrote ${file}`);
    }
    printSummary(results);
    return Math.max(check(results, units.length), lambdaCode);
  } finally {
    for (const state of states.values()) await stopServer(state.server).catch(() => {});
  }
}

async function measureUnitBare(state: UnitState, services: Services, pass: number, run: number) {
  const s = state.server;
  if (pass === 0 && run === 0 && settings.warmupSeconds > 0) {
    await load(s, 'fresh', `bench-${runId}-${s.index}-warm`, settings.warmupSeconds);
  }
  state.samples.fresh.push({
    ...(await measure(s, services, 'fresh', `bench-${runId}-${s.index}-p${pass}r${run}`)),
    pass,
  });
}

/**
 * Redis's own CPU per request, per library (src/redis-cpu.ts, on a private
 * redis-server it starts), written to `out` for BENCHMARKS.md. Runs after
 * the load passes, so it never competes with them.
 */
async function measureRedisCpu(out: string): Promise<void> {
  log('\nRedis CPU per request (src/redis-cpu.ts)…');
  const child = spawn(
    'npx',
    ['tsx', '--conditions=@idem/source', 'src/redis-cpu.ts', '--out', out],
    { cwd: packageRoot(), stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) log(`Redis CPU not measured (src/redis-cpu.ts exited with ${code})`);
}

/**
 * What one request costs against the hand-written floor on every store, the
 * replay write proof and the single-flight storm (src/cost/main.ts), written
 * to `out` for BENCHMARKS.md. After the load passes, like the Redis CPU.
 */
async function measureCost(out: string): Promise<void> {
  log('\nCost per request against the floor (src/cost/main.ts)…');
  const child = spawn(
    'npx',
    ['tsx', '--conditions=@idem/source', 'src/cost/main.ts', '--out', out],
    { cwd: packageRoot(), stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    const message = `cost not measured (src/cost/main.ts exited with ${code})`;
    if (process.env.CI === 'true') throw new Error(message);
    log(message);
  }
}

/**
 * @idem/lambda beside Powertools on DynamoDB (dynalite) and Redis
 * (src/lambda/main.ts, from sources like the cost tool), written to `out`
 * for BENCHMARKS.md; `--quick` in quick mode. Its exit code: a broken
 * guarantee or failed row fails the run.
 */
async function measureLambda(out: string): Promise<number> {
  log(`\nLambda: @idem/lambda beside Powertools (src/lambda/main.ts)… (${elapsed()})`);
  const child = spawn(
    'npx',
    [
      'tsx',
      '--conditions=@idem/source',
      'src/lambda/main.ts',
      ...(quick ? ['--quick'] : []),
      '--out',
      out,
    ],
    { cwd: packageRoot(), stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) log(`Lambda section failed (src/lambda/main.ts exited with ${code})`);
  return code === 0 ? 0 : 1;
}

/** The peers that cannot be installed here, as the registry answered when this was written. */
const UNAVAILABLE = [
  { name: 'hono-idempotency', reason: 'npm registry: 404 Not Found' },
  {
    name: '@idempot/core, @idempot/hono, @idempot/express, @idempot/fastify',
    reason: 'npm registry: 404 Not Found',
  },
  {
    name: '@node-idempotency/express, @node-idempotency/fastify, @node-idempotency/storage-adapter-postgres (named in its README)',
    reason: 'npm registry: 404 Not Found',
  },
];

function printSummary(results: Results): void {
  log(
    '\nrow                                           phase    req/s   ratio  p50 ms  p99 ms  store calls/req',
  );
  for (const b of results.bare) {
    log(
      `${`${b.framework}/bare`.padEnd(46)}         ${fmt(b.rps).padStart(7)}   1.00 ${fmt(b.p50Ms, 2).padStart(7)} ${fmt(b.p99Ms, 2).padStart(7)}`,
    );
  }
  for (const r of results.rows) {
    log(
      `${unitId(r.unit).padEnd(46)}${r.phase.padEnd(7)} ${fmt(r.rps).padStart(7)} ${fmt(r.ratio, 2).padStart(6)} ${fmt(r.p50Ms, 2).padStart(7)} ${fmt(r.p99Ms, 2).padStart(7)} ${fmt(r.storeCallsPerRequest, 2).padStart(8)}${r.non2xx ? `  non-2xx ${r.non2xx}` : ''}`,
    );
  }
  // Quick mode measures one pass of a few requests: nothing to judge.
  const cases = results.settings.quick ? [] : peerComparisons(results);
  if (cases.length > 0) {
    log(
      `\nidem against each peer, pass by pass: geometric mean [${Math.round((results.settings.confidence ?? CONFIDENCE) * 100)} % interval, Student's t on the log ratios]; > 1 favours idem`,
    );
    log(
      `${'row'.padEnd(40)}phase   req/s idem/peer              CPU µs/req peer/idem         verdict`,
    );
    for (const c of cases) {
      const { rps, cpu, standing } = c.comparison;
      log(
        `${`${c.framework}/${c.store}/${c.peer}`.padEnd(40)}${c.phase.padEnd(7)} ${`${intervalText(rps)} ${rps.standing}`.padEnd(28)} ${`${cpu ? `${intervalText(cpu)} ${cpu.standing}` : '—'}`.padEnd(28)} ${standing}`,
      );
    }
  }
  for (const f of results.fingerprint) {
    log(
      `fingerprint ${f.label.padEnd(6)} ${fmt(f.fingerprintOpsPerSec)} ops/s vs JSON.stringify(JSON.parse)+SHA-256 ${fmt(f.baselineOpsPerSec)} ops/s: ${fmt(f.ratio, 2)}x`,
    );
  }
  if (results.memory) {
    const m = results.memory;
    log(
      `memory store: ${fmt(m.bytesPerRecord)} bytes per record; peak RSS ${fmt(m.peakRssBytes / 2 ** 20)} MiB with ${fmt(m.records)} completed records`,
    );
    log(
      `memory store: ${fmt(m.fillGcSeconds ?? Number.NaN, 1)} s of GC filling it; a fresh key allocates ${fmt(m.freshAllocatedBytes ?? Number.NaN)} bytes (claim + complete), a replay ${fmt(m.replayAllocatedBytes ?? Number.NaN)}`,
    );
  }
  log(`\n${results.durationSeconds} s`);
}

/** What the smoke asserts: every configuration ran, and idem's guarantees held. Nothing about speed. */
function check(results: Results, expectedUnits: number): number {
  const problems: string[] = results.failures.map((f) => `${f.unit}: ${f.error.split('\n')[0]}`);
  const ran = new Set(results.rows.map((r) => unitId(r.unit)));
  const expectedRows = expectedUnits - results.bare.length;
  if (ran.size !== expectedRows)
    problems.push(`${ran.size} of ${expectedRows} configurations produced figures`);
  for (const r of results.rows) {
    if (r.requests === 0) problems.push(`${unitId(r.unit)} ${r.phase}: no request completed`);
    if (!isOurs(r.unit.library)) continue;
    if (r.non2xx > 0 || r.errors > 0)
      problems.push(`${unitId(r.unit)} ${r.phase}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    if (r.phase === 'replay' && r.executionsPerRequest !== 0) {
      problems.push(`${unitId(r.unit)}: the handler ran during replays`);
    }
  }
  const stormed = results.storms.filter((s) => s.unit.library !== 'bare' && !s.variant);
  if (stormed.length !== expectedRows)
    problems.push(`${stormed.length} of ${expectedRows} storms ran`);
  for (const s of stormed) {
    if (isOurs(s.unit.library) && !s.result.exactlyOnce) {
      problems.push(`${unitId(s.unit)} storm: idem ran a handler more or less than once per key`);
    }
  }
  if (results.fingerprint.length !== 3)
    problems.push('the fingerprint micro-benchmark did not run');
  if (!results.memory) problems.push('the memory measurement did not run');
  if (problems.length > 0) {
    log(`\nFAILED:\n- ${problems.join('\n- ')}`);
    return 1;
  }
  log(quick ? '\nquick bench: every configuration ran; idem ran each storm key exactly once' : '');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
