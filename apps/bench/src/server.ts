/**
 * One server configuration, run as a child process of its own:
 * `node dist/server.js '<ServerConfig as JSON>'` (`bun dist/server.js …` for
 * the Bun.serve rows). Prints `READY {"port":…}`
 * once it listens. GET /stats and GET /counts report what it counted.
 */
import type { Server } from 'node:http';
import { replayCache } from '@idem/core';
import type { ServerConfig, ServerStats } from './config.js';
import type { Listening } from './server/bun.js';
import type { BuildContext, Payment, Receipt } from './server/context.js';
import {
  type Opened,
  openExpressIdempotencyAdapter,
  openIdemStore,
  openNodeIdempotency,
  openPowertools,
} from './server/stores.js';
import { redisCommands, watchPorts, wireCounts } from './wire.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const config = JSON.parse(process.argv[2] ?? '') as ServerConfig;
const { unit } = config;

// Before any store client connects.
watchPorts(
  new Map([
    [portOf(config.redisUrl, 6379), 'resp'],
    [portOf(config.databaseUrl, 5432), 'pg'],
  ]),
);

let posts = 0;
let executions = 0;
const storm = new Map<string, number>();

function charge(body: Payment, key: () => string | undefined): Receipt | Promise<Receipt> {
  executions++;
  const receipt: Receipt = {
    id: `pay_${executions}`,
    amount: body.amount,
    currency: body.currency,
    status: 'succeeded',
  };
  if (body.delayMs === undefined) return receipt;
  // Storm requests: count per key, and take a while, like a call to a payment provider.
  const k = key() ?? '';
  storm.set(k, (storm.get(k) ?? 0) + 1);
  return new Promise((resolve) => setTimeout(resolve, body.delayMs, receipt));
}

const opened: Opened<unknown>[] = [];
async function open<T>(opening: Promise<Opened<T>>): Promise<Opened<T>> {
  const o = await opening;
  opened.push(o);
  return o;
}

let records: (() => number) | undefined;
type Extra =
  | 'idemStore'
  | 'idemOptions'
  | 'expressIdempotencyAdapter'
  | 'nodeIdempotency'
  | 'powertools';
const extra: { -readonly [K in Extra]?: BuildContext[K] } = {};
switch (unit.library) {
  case 'idem':
  case 'idem-cache': {
    const o = await open(openIdemStore(config));
    extra.idemStore = o.value;
    // The default limits, as `replayCache()` gives them.
    if (unit.library === 'idem-cache') extra.idemOptions = { cache: replayCache() };
    records = o.records;
    break;
  }
  case 'express-idempotency': {
    const o = await open(openExpressIdempotencyAdapter(config));
    extra.expressIdempotencyAdapter = o.value;
    records = o.records;
    break;
  }
  case 'node-idempotency': {
    const o = await open(openNodeIdempotency(config));
    extra.nodeIdempotency = o.value;
    records = o.records;
    break;
  }
  case 'powertools': {
    const o = await open(openPowertools(config, charge));
    extra.powertools = o.value;
    break;
  }
  case 'bare':
    break;
}

const ctx: BuildContext = {
  config,
  unit,
  charge,
  stats(): ServerStats {
    const wire = wireCounts();
    const cpu = process.cpuUsage();
    return {
      posts,
      cpuMicros: cpu.user + cpu.system,
      executions,
      storeCalls: wire.resp + wire.pg,
      storeOps: wire.pg > 0 ? { ...redisCommands(), 'pg round trip': wire.pg } : redisCommands(),
      ...(records ? { records: records() } : {}),
    };
  },
  stormCounts: () => Object.fromEntries(storm),
  ...extra,
};

let server: Listening;
switch (unit.framework) {
  case 'hono':
    server = counted(await (await import('./server/hono.js')).honoServer(ctx));
    break;
  case 'express':
    server = counted(await (await import('./server/express.js')).expressServer(ctx));
    break;
  case 'fastify':
    server = counted(await (await import('./server/fastify.js')).fastifyServer(ctx));
    break;
  case 'web':
    server = counted(await (await import('./server/web.js')).webServer(ctx));
    break;
  case 'bun':
    server = (await import('./server/bun.js')).bunServer(ctx, () => {
      posts++;
    });
    break;
}

/** A Node server, its POSTs counted as they arrive. */
function counted(node: Server): Listening {
  node.on('request', (req: { method?: string }) => {
    if (req.method === 'POST') posts++;
  });
  const address = node.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close() {
      node.closeAllConnections?.();
      node.close();
    },
  };
}

process.stdout.write(`READY ${JSON.stringify({ port: server.port, pid: process.pid })}\n`);

// Profiling a measurement window only (what `--cpu-prof` cannot do): with
// BENCH_PROFILE=<file>, SIGUSR2 starts the V8 CPU profiler and the next
// SIGUSR2 writes the profile to <file>.
if (process.env.BENCH_PROFILE) {
  const file = process.env.BENCH_PROFILE;
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  let profiling = false;
  process.on('SIGUSR2', async () => {
    if (!profiling) {
      profiling = true;
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      return;
    }
    profiling = false;
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    process.stdout.write(`PROFILE ${file}\n`);
  });
}

async function shutdown() {
  server.close();
  await Promise.allSettled(opened.map((o) => o.close()));
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());

function portOf(url: string, fallback: number): number {
  try {
    return Number(new URL(url).port) || fallback;
  } catch {
    return fallback;
  }
}
