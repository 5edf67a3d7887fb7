/**
 * Redis CPU per idempotent request, per library: how much of one Redis core a
 * fresh request (first execution) and a replay cost, from Redis's own
 * accounting (`INFO commandstats`, `CONFIG RESETSTAT` before each window).
 *
 *   npx tsx --conditions=@idem/source apps/bench/src/redis-cpu.ts [--requests 2000] [--windows 5] [--out file.json]
 *
 * `pnpm bench` runs it after its load passes and writes results/redis-cpu.json
 * (see {@link RedisCpuResults}), which BENCHMARKS.md reports.
 *
 * Runs against a private redis-server it starts on a free port (so nobody
 * else's commands land in the stats) and stops at the end. Rows:
 * - idem through its engine alone (`begin`, then `commit`), on ioredis and on
 *   node-redis, one window per store operation: a fresh request costs its
 *   claim window plus its completion window, a replay its claim window;
 * - idem and each peer as apps/bench wires them (a server process of
 *   src/server.ts, from sources), driven over HTTP, one window per phase.
 *
 * Per request = the microseconds Redis spent in the commands the client sent
 * (commandstats `usec`), summed over the window, divided by the requests.
 * Commands that Lua scripts run inside Redis are counted in commandstats too,
 * although their time is already part of the script's: a calibration window
 * per phase with every command in the slow log (which shows script calls with
 * the client `?:0`) counts them per request, and their share of a command's
 * calls is taken out of its time. That is exact when a window's scripts and
 * client use different commands, as in the engine rows (one window per store
 * operation), and an approximation where one name is used both ways (idem's
 * claim SET and the SET inside its completion script, in the HTTP row).
 *
 * "per core" is 1e6 / us: requests per second one Redis core could serve if
 * it did nothing else but these commands (network I/O not included: it costs
 * Redis about the same per command whatever the library, so fewer round trips
 * save more than shown). Requests go one at a time by default
 * (`--concurrency`): commandstats times commands on the wall clock, and on a
 * small machine the load competes with Redis for its core and its caches.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createIdempotency, type Execution } from '@idem/core';
import { fingerprintRequest } from '@idem/core/http';
import { redisStore } from '@idem/store-redis';
import { Redis } from 'ioredis';
import type { Framework, Library, ServerConfig } from './config.ts';
import { PAYMENT_BODY } from './config.ts';
import {
  onCore,
  pinThisProcess,
  type RedisCost,
  redisWindow,
  type Stats,
  scriptCallsPerRequest,
  startRedis,
} from './cost/redis-server.ts';
import type { RedisCpuResults } from './results.ts';
import { median } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    windows: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const REQUESTS = Number(args.requests);
const WINDOWS = Number(args.windows);
const CONCURRENCY = Number(args.concurrency);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// --- the private Redis and its accounting (src/cost/redis-server.ts) ---------------

const pinned = pinThisProcess();

/** One window: commandstats reset, one phase for every key, commandstats read. */
const window = (admin: Redis, phase: Phase, keys: string[], inner?: Stats): Promise<Cost> =>
  redisWindow(admin, () => drive(keys, phase), keys.length, inner);

/** Script calls per request of one phase, from a window with every command in the slow log. */
const scriptCalls = (admin: Redis, phase: Phase, keys: string[]): Promise<Stats> =>
  scriptCallsPerRequest(admin, () => drive(keys, phase), keys.length);

type Cost = RedisCost;

const sum = (costs: Cost[]): Cost => ({
  us: costs.reduce((total, c) => total + c.us, 0),
  commands: Object.assign({}, ...costs.map((c) => c.commands)),
});

// --- what sends requests ---------------------------------------------------------

/** One step of a request for a key; resolves once Redis has answered it. */
type Phase = (key: string) => Promise<void>;

interface Driver {
  /** A first request, as one or more phases, each measured in windows of its own. */
  readonly fresh: readonly Phase[];
  /** A retry of a completed key. */
  readonly replay: readonly Phase[];
  /** Times the handler ran, where the driver can tell. */
  executions?(): Promise<number>;
  close(): Promise<void>;
}

interface Row {
  readonly library: string;
  readonly via: string;
  open(url: string, run: string): Promise<Driver>;
}

function engineRow(client: 'ioredis' | 'node-redis'): Row {
  return {
    library: 'idem',
    via: `engine, ${client}`,
    async open(url, run) {
      let close: () => Promise<void>;
      let connection: unknown;
      if (client === 'ioredis') {
        const c = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
        connection = c;
        close = async () => void c.disconnect();
      } else {
        // node-redis as apps/bench installs it (@redis/client, what `redis` re-exports).
        const { createClient } = await import('@redis/client');
        const c = createClient({ url, disableOfflineQueue: true });
        c.on('error', () => {});
        await c.connect();
        connection = c;
        close = async () => void c.destroy();
      }
      let store: ReturnType<typeof redisStore>;
      try {
        store = redisStore({ client: connection as never, prefix: `cpu:${run}:` });
      } catch (error) {
        await close();
        throw error;
      }
      const idem = createIdempotency({ store, ttlMs: 3_600_000 });
      const body = new TextEncoder().encode(PAYMENT_BODY);
      // What an HTTP adapter hands the engine for POST /payments, and what it stores.
      const fingerprint = await fingerprintRequest({
        method: 'POST',
        path: '/payments',
        body,
        contentType: 'application/json',
      });
      const response = {
        status: 201,
        headers: [['content-type', 'application/json']] as const,
        body: new TextEncoder().encode(
          '{"id":"pay_1","amount":1999,"currency":"eur","status":"succeeded"}',
        ),
      };
      const claimed = new Map<string, Execution>();
      const begin = (key: string) => idem.begin({ scope: 'bench', key, fingerprint });
      return {
        fresh: [
          async (key) => {
            const decision = await begin(key);
            if (decision.kind !== 'execute') throw new Error(`${key}: expected to execute`);
            claimed.set(key, decision);
          },
          async (key) => {
            await claimed.get(key)!.complete(response);
            claimed.delete(key);
          },
        ],
        replay: [
          async (key) => {
            if ((await begin(key)).kind !== 'replay') throw new Error(`${key}: expected a replay`);
          },
        ],
        close,
      };
    },
  };
}

function httpRow(library: Library, framework: Framework, label: string): Row {
  return {
    library: label,
    via: `HTTP, ${framework}`,
    async open(redisUrl, runId) {
      const config: ServerConfig = {
        runId,
        redisUrl,
        databaseUrl: '',
        pgTable: '',
        dynamoEndpoint: '',
        dynamoTable: '',
        powertoolsTable: '',
        unit: { framework, store: 'redis', library },
      };
      const server = await startServer(config);
      const base = `http://127.0.0.1:${server.port}`;
      const post: Phase = async (key) => {
        const res = await fetch(`${base}/payments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: PAYMENT_BODY,
        });
        await res.arrayBuffer();
        if (res.status >= 300) throw new Error(`${label}: ${key} answered ${res.status}`);
      };
      return {
        fresh: [post],
        replay: [post],
        async executions() {
          const res = await fetch(`${base}/stats`);
          return ((await res.json()) as { executions: number }).executions;
        },
        async close() {
          const exited = new Promise((resolve) => server.child.once('exit', resolve));
          server.child.kill('SIGTERM');
          const timer = setTimeout(() => server.child.kill('SIGKILL'), 3_000);
          await exited;
          clearTimeout(timer);
        },
      };
    },
  };
}

async function startServer(config: ServerConfig): Promise<{ child: ChildProcess; port: number }> {
  const entry = join(root, 'src', 'server.ts');
  const child = spawn(
    ...onCore(pinned, 0, process.execPath, [
      '--import',
      'tsx',
      '--conditions=@idem/source',
      entry,
      JSON.stringify(config),
    ]),
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\{.*\})/.exec(out);
      if (m) resolve((JSON.parse(m[1]!) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}\n${stderr}`)));
  });
  return { child, port };
}

/** `phase` for every key, at most CONCURRENCY at once. */
async function drive(keys: readonly string[], phase: Phase): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, keys.length) }, async () => {
      while (next < keys.length) await phase(keys[next++]!);
    }),
  );
}

// --- the run ---------------------------------------------------------------------

interface Result {
  readonly row: Row;
  readonly fresh: Cost[];
  readonly replay: Cost[];
}

async function measure(row: Row, url: string, admin: Redis): Promise<Result> {
  const run = Math.random().toString(36).slice(2, 8);
  const driver = await row.open(url, run);
  const keysOf = (what: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${run}-${what}-${i}`);
  const inOrder = async (phases: readonly Phase[], keys: string[]) => {
    for (const phase of phases) await drive(keys, phase);
  };
  try {
    // Warm-up: scripts loaded, connections open, code optimised.
    const warm = keysOf('warm', 200);
    await inOrder(driver.fresh, warm);
    await inOrder(driver.replay, warm);
    const probe = keysOf('calibration', Math.min(REQUESTS, 500));
    const inner = { fresh: [] as Stats[], replay: [] as Stats[] };
    for (const phase of driver.fresh) {
      inner.fresh.push(await scriptCalls(admin, phase, probe));
    }
    for (const phase of driver.replay) {
      inner.replay.push(await scriptCalls(admin, phase, probe));
    }
    let ran = warm.length + probe.length;
    const fresh: Cost[] = [];
    const replay: Cost[] = [];
    for (let w = 0; w < WINDOWS; w++) {
      const keys = keysOf(`w${w}`, REQUESTS);
      const phases: Cost[] = [];
      for (const [i, phase] of driver.fresh.entries()) {
        phases.push(await window(admin, phase, keys, inner.fresh[i]));
      }
      fresh.push(sum(phases));
      phases.length = 0;
      for (const [i, phase] of driver.replay.entries()) {
        phases.push(await window(admin, phase, keys, inner.replay[i]));
      }
      replay.push(sum(phases));
      ran += keys.length;
    }
    const executions = await driver.executions?.();
    if (executions !== undefined && executions !== ran) {
      console.warn(`  ${row.library}: the handler ran ${executions} times for ${ran} keys`);
    }
    return { row, fresh, replay };
  } finally {
    await driver.close();
  }
}

const fmt = (n: number, digits = 2) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The commands of a request with their median usec per call, e.g. `SET 1.10 + EVALSHA 3.80`. */
function commandList(costs: Cost[]): string {
  const names = [...new Set(costs.flatMap((c) => Object.keys(c.commands)))];
  return names
    .map((name) => {
      const n = median(costs.map((c) => c.commands[name]?.perRequest ?? 0));
      const us = median(costs.map((c) => c.commands[name]?.usecPerCall ?? Number.NaN));
      const times = Math.abs(n - 1) < 0.01 ? '' : `${fmt(n)} x `;
      return { n, text: `${times}${name.toUpperCase()} ${fmt(us)}` };
    })
    .filter(({ n }) => n >= 0.01)
    .map(({ text }) => text)
    .join(' + ');
}

const ROWS: Row[] = [
  engineRow('ioredis'),
  engineRow('node-redis'),
  httpRow('idem', 'hono', 'idem'),
  httpRow('node-idempotency', 'hono', '@node-idempotency/core'),
  httpRow('express-idempotency', 'express', 'express-idempotency'),
  httpRow('powertools', 'hono', '@aws-lambda-powertools/idempotency'),
];

const redis = await startRedis(pinned);
const admin = new Redis(redis.url);
await admin.config('SET', 'slowlog-max-len', '100000'); // room for a calibration window
process.once('exit', () => redis.stop());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}
try {
  console.log(
    `Redis ${redis.version} (private, ${redis.url}${pinned ? ', on core 1; the load on core 0' : ', unpinned'}); ${WINDOWS} windows of ${REQUESTS} requests, ${CONCURRENCY} at once; medians\n`,
  );
  const results: Result[] = [];
  for (const row of ROWS) {
    if (args.only && !`${row.library} (${row.via})`.includes(args.only)) continue;
    let result: Result;
    try {
      result = await measure(row, redis.url, admin);
    } catch (error) {
      console.log(`${row.library} (${row.via}): not measured: ${(error as Error).message}`);
      continue;
    }
    results.push(result);
    const f = median(result.fresh.map((c) => c.us));
    const r = median(result.replay.map((c) => c.us));
    console.log(
      `${row.library} (${row.via}): fresh ${fmt(f)} us [${commandList(result.fresh)}], replay ${fmt(r)} us [${commandList(result.replay)}]`,
    );
  }
  console.log(
    '\n| library | measured through | Redis CPU per fresh request (us) | per replay (us) | fresh requests/s per Redis core | replays/s per Redis core | commands per fresh request (us per call) | per replay |',
  );
  console.log('|---|---|---:|---:|---:|---:|---|---|');
  for (const { row, fresh, replay } of results) {
    const f = median(fresh.map((c) => c.us));
    const r = median(replay.map((c) => c.us));
    console.log(
      `| ${row.library} | ${row.via} | ${fmt(f)} | ${fmt(r)} | ${fmt(1e6 / f, 0)} | ${fmt(1e6 / r, 0)} | ${commandList(fresh)} | ${commandList(replay)} |`,
    );
  }
  if (args.out) {
    const written: RedisCpuResults = {
      redisVersion: redis.version,
      requests: REQUESTS,
      windows: WINDOWS,
      concurrency: CONCURRENCY,
      rows: results.map(({ row, fresh, replay }) => ({
        library: row.library,
        via: row.via,
        freshUs: median(fresh.map((c) => c.us)),
        replayUs: median(replay.map((c) => c.us)),
        freshCommands: commandList(fresh),
        replayCommands: commandList(replay),
      })),
    };
    await writeFile(args.out, `${JSON.stringify(written, null, 2)}\n`);
    console.log(`\nwrote ${args.out}`);
  }
} finally {
  admin.disconnect();
  redis.stop();
}
