/**
 * What one idempotent request costs, per store, against the hand-written
 * floor: the same job done by hand against the same database. Engine only
 * (no HTTP). Also what replays write (PostgreSQL, MySQL) and a duplicate
 * storm in one process.
 *
 *   pnpm --filter @idem/bench cost [--stores memory,redis,postgres,mysql,dynamodb] [--keys 4000] [--passes 5] [--out results/cost.json]
 *
 * (that is `tsx --conditions=@idem/source src/cost/main.ts`, from sources, as
 * main.ts runs src/redis-cpu.ts). Per store: warm-up, then interleaved
 * passes (floor, idem, idem, floor, …), each on fresh keys: every key's first
 * request (one window per phase: claim, then completion), then its replay.
 * Per window, the CPU of this process (process.cpuUsage) and of the
 * database, over the keys:
 * - PostgreSQL: the backends serving the pool (`pg_backend_pid()`, /proc/<pid>/stat);
 * - MySQL/MariaDB: the whole server process (/proc), so anything else the
 *   server does lands in it too;
 * - Redis: a private redis-server's own accounting of the commands the
 *   client sent (commandstats usec, script calls taken out);
 * - DynamoDB (dynalite in a child process): request units and round trips, not CPU;
 * - memory: this process only.
 *
 * Under CI=true a database that cannot be reached fails the run; elsewhere
 * it is skipped with a banner.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { memoryStore } from '@idem/store-memory';
import { postgresStore } from '@idem/store-postgres';
import { redisStore } from '@idem/store-redis';
import { Redis } from 'ioredis';
import { openDynamo } from './dynamodb.ts';
import { openMemory } from './memory.ts';
import { mysqlWriteProof, openMysql } from './mysql.ts';
import { openPostgres, postgresWriteProof } from './postgres.ts';
import { commandStatsMeter, openRedis, type RedisClientName } from './redis.ts';
import { pinThisProcess, startRedis } from './redis-server.ts';
import { costSection } from './render.ts';
import { CLOCK_TICKS, measureWays, noDb, type Plan } from './run.ts';
import { storm } from './storm.ts';
import {
  COST_STORES,
  type CostResults,
  type CostRow,
  type CostStore,
  type StormResult,
  type WriteProof,
} from './types.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values: args } = parseArgs({
  options: {
    stores: { type: 'string', default: COST_STORES.join(',') },
    keys: { type: 'string', default: '4000' },
    'dynamodb-keys': { type: 'string', default: '1000' },
    passes: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    pool: { type: 'string', default: '8' },
    replays: { type: 'string', default: '10000' },
    'storm-requests': { type: 'string', default: '200' },
    'storm-ms': { type: 'string', default: '50' },
    'storm-rounds': { type: 'string', default: '3' },
    'no-storm': { type: 'boolean', default: false },
    'no-proof': { type: 'boolean', default: false },
    'no-node-redis': { type: 'boolean', default: false },
    out: { type: 'string', default: join(root, 'results', 'cost.json') },
  },
});

const stores = args.stores.split(',').map((s) => s.trim()) as CostStore[];
for (const s of stores) {
  if (!COST_STORES.includes(s)) {
    throw new Error(
      `--stores: unknown store ${JSON.stringify(s)}; known: ${COST_STORES.join(', ')}`,
    );
  }
}
const plan: Plan = {
  keys: Number(args.keys),
  passes: Number(args.passes),
  concurrency: Number(args.concurrency),
  warmKeys: Math.min(500, Number(args.keys)),
};
const POOL = Number(args.pool);
const REPLAYS = Number(args.replays);
const PROOF_KEYS = Math.min(2_000, REPLAYS);
const stormOptions = {
  requests: Number(args['storm-requests']),
  handlerMs: Number(args['storm-ms']),
  rounds: Number(args['storm-rounds']),
};
const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const run = Math.random().toString(36).slice(2, 8);
const CI = process.env.CI === 'true';

const rows: CostRow[] = [];
const writeProofs: WriteProof[] = [];
const storms: StormResult[] = [];
const skipped: CostResults['skipped'][number][] = [];

/** A database this run cannot reach: fatal under CI, a loud skip elsewhere. */
function unreachable(store: CostStore, error: unknown): void {
  const reason = (error as Error).message ?? String(error);
  if (CI) throw new Error(`cost: ${store} cannot be reached under CI: ${reason}`, { cause: error });
  const bar = '!'.repeat(78);
  console.log(
    `\n${bar}\n!! ${store.toUpperCase()} SKIPPED: cannot be reached or set up (${reason})\n!! Its figures are missing from this run; CI=true makes this an error.\n${bar}\n`,
  );
  skipped.push({ store, reason });
}

const log = (message: string) => console.log(message);

/** The storm on `store`, with core's single flight off (one store call per poll) and on. */
async function runStorm(
  name: CostStore,
  via: string,
  store: Parameters<typeof storm>[2],
): Promise<void> {
  if (args['no-storm']) return;
  for (const singleFlight of [false, true]) {
    const result = await storm(name, via, store, {
      ...stormOptions,
      run: `${run}-${name}`,
      singleFlight,
    });
    storms.push(result);
    log(
      `  storm, singleFlight ${singleFlight}: ${result.executions} execution(s), ${result.callsPerDuplicate.total.toFixed(2)} store calls per duplicate, wait median ${result.waitMedianMs.toFixed(1)} ms, max ${result.waitMaxMs.toFixed(1)} ms`,
    );
  }
}

const say = (row: CostRow) =>
  log(
    `  first: floor ${row.first.floor.totalUs.toFixed(1)} µs, idem ${row.first.idem.totalUs.toFixed(1)} µs (${row.first.ratio.toFixed(2)}×); replay: floor ${row.replay.floor.totalUs.toFixed(1)} µs, idem ${row.replay.idem.totalUs.toFixed(1)} µs (${row.replay.ratio.toFixed(2)}×)`,
  );

async function measureMemory(): Promise<void> {
  log('\nmemory…');
  const ways = openMemory();
  const result = await measureWays(noDb, ways, plan, `${run}-memory`);
  const row: CostRow = {
    store: 'memory',
    via: '@idem/store-memory',
    server: 'this process',
    dbCpu: '',
    floor: 'a Map: has + set, set; get',
    ...result,
  };
  rows.push(row);
  say(row);
  await runStorm('memory', '@idem/store-memory', memoryStore());
}

async function measurePostgres(): Promise<void> {
  log('\npostgres…');
  let target: Awaited<ReturnType<typeof openPostgres>>;
  try {
    target = await openPostgres(POSTGRES_URL, POOL, run);
  } catch (error) {
    unreachable('postgres', error);
    return;
  }
  try {
    const result = await measureWays(target.meter, target, plan, `${run}-pg`);
    const row: CostRow = {
      store: 'postgres',
      via: `pg.Pool of ${POOL}`,
      server: target.server,
      dbCpu: `the pool's ${POOL} backends, /proc utime + stime (${CLOCK_TICKS} ticks/s)`,
      floor:
        'named prepared statements: INSERT … ON CONFLICT DO NOTHING + UPDATE … SET state = completed; SELECT',
      ...result,
    };
    rows.push(row);
    say(row);
    if (!args['no-proof']) {
      const proof = await postgresWriteProof(
        target,
        PROOF_KEYS,
        REPLAYS,
        plan.concurrency,
        POOL,
        run,
      );
      writeProofs.push({
        store: 'postgres',
        replays: REPLAYS,
        firstRequests: PROOF_KEYS,
        firstDeltas: proof.first,
        replayDeltas: proof.replay,
        idleDeltas: proof.idle,
        note: "pg_stat_user_tables of idem's table (flushed with pg_stat_force_next_flush on every backend of the pool); wal_bytes is server-wide (pg_current_wal_lsn), so other sessions' writes land in it too.",
      });
      log(`  replays wrote: ${JSON.stringify(proof.replay)}`);
    }
    await runStorm(
      'postgres',
      `pg.Pool of ${POOL}`,
      postgresStore({ pool: target.pool, table: target.table }),
    );
  } finally {
    await target.close();
  }
}

async function measureMysql(): Promise<void> {
  log('\nmysql…');
  let target: Awaited<ReturnType<typeof openMysql>>;
  try {
    target = await openMysql(MYSQL_URL, POOL, run);
  } catch (error) {
    unreachable('mysql', error);
    return;
  }
  try {
    const result = await measureWays(target.meter, target, plan, `${run}-mysql`);
    const row: CostRow = {
      store: 'mysql',
      via: `mysql2 pool of ${POOL}`,
      server: target.server,
      dbCpu: `the whole server process, /proc utime + stime (${CLOCK_TICKS} ticks/s)`,
      floor: 'prepared (execute): INSERT IGNORE + UPDATE; SELECT',
      ...result,
    };
    rows.push(row);
    say(row);
    if (!args['no-proof']) {
      const proof = await mysqlWriteProof(target, PROOF_KEYS, REPLAYS, plan.concurrency, run);
      writeProofs.push({
        store: 'mysql',
        replays: REPLAYS,
        firstRequests: PROOF_KEYS,
        firstDeltas: proof.first,
        replayDeltas: proof.replay,
        idleDeltas: proof.idle,
        note: "SHOW SESSION STATUS summed over the pool's connections (pool sessions: this run's statements only, the status queries' own temporary tables aside), and SHOW GLOBAL STATUS (server: anything else the server does in the window lands in it too, as does InnoDB's purge of the first requests' old row versions).",
      });
      log(`  replays wrote: ${JSON.stringify(proof.replay)}`);
    }
  } finally {
    await target.close();
  }
}

async function measureRedis(): Promise<void> {
  log('\nredis…');
  // commandstats times commands on the wall clock: Redis on core 1, this process on core 0.
  const pinned = pinThisProcess();
  let redis: Awaited<ReturnType<typeof startRedis>>;
  try {
    redis = await Promise.race([
      startRedis(pinned),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('redis-server did not answer within 10 s')), 10_000),
      ),
    ]);
  } catch (error) {
    unreachable('redis', error);
    return;
  }
  const admin = new Redis(redis.url);
  try {
    const clients: RedisClientName[] = args['no-node-redis']
      ? ['ioredis']
      : ['ioredis', 'node-redis'];
    for (const client of clients) {
      log(`  ${client}…`);
      const ways = await openRedis(redis.url, client, `${run}-${client}`);
      try {
        const meter = commandStatsMeter(admin);
        const result = await measureWays(meter, ways, plan, `${run}-${client}`);
        const row: CostRow = {
          store: 'redis',
          via: client,
          server: `Redis ${redis.version} (private${pinned ? ', on core 1' : ''})`,
          dbCpu: 'INFO commandstats usec of the commands the client sent (script calls taken out)',
          floor: 'SET NX + SET; GET',
          ...result,
          commands: {
            first: { floor: meter.commands('floor:first'), idem: meter.commands('idem:first') },
            replay: { floor: meter.commands('floor:replay'), idem: meter.commands('idem:replay') },
          },
          target: {
            what: "Redis CPU of idem's first request",
            limitUs: 6,
            measuredUs: result.first.idem.dbUs,
          },
        };
        rows.push(row);
        say(row);
      } finally {
        await ways.close();
      }
    }
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await runStorm('redis', 'ioredis', redisStore({ client, prefix: `storm:${run}:` }));
    } finally {
      client.disconnect();
    }
  } finally {
    admin.disconnect();
    redis.stop();
  }
}

async function measureDynamo(): Promise<void> {
  log('\ndynamodb…');
  let target: Awaited<ReturnType<typeof openDynamo>>;
  try {
    target = await openDynamo(run);
  } catch (error) {
    unreachable('dynamodb', error);
    return;
  }
  try {
    // dynalite answers a few hundred requests a second, and units and round
    // trips are counts, not timings: fewer keys tell the same.
    const keys = Math.min(plan.keys, Number(args['dynamodb-keys']));
    const result = await measureWays(target.meter, target, { ...plan, keys }, `${run}-dynamo`);
    const row: CostRow = {
      store: 'dynamodb',
      via: '@aws-sdk/client-dynamodb',
      server: target.server,
      dbCpu: '',
      floor: `conditional PutItem + UpdateItem; GetItem (strongly consistent); ${keys} keys per pass`,
      ...result,
      commands: {
        first: { floor: target.actions('floor:first'), idem: target.actions('idem:first') },
        replay: { floor: target.actions('floor:replay'), idem: target.actions('idem:replay') },
      },
    };
    rows.push(row);
    say(row);
  } finally {
    await target.close();
  }
}

const measure: Record<CostStore, () => Promise<void>> = {
  memory: measureMemory,
  postgres: measurePostgres,
  mysql: measureMysql,
  dynamodb: measureDynamo,
  redis: measureRedis,
};

log(
  `cost: ${plan.keys} keys per pass, ${plan.concurrency} at a time, pools of ${POOL}, ${plan.passes} passes; stores: ${stores.join(', ')}`,
);
// Redis last: it pins this process to one core.
for (const store of COST_STORES) {
  if (stores.includes(store) && store !== 'redis') await measure[store]();
}
if (stores.includes('redis')) await measure.redis();

const cpus = os.cpus();
const results: CostResults = {
  date: new Date().toISOString(),
  keys: plan.keys,
  concurrency: plan.concurrency,
  poolSize: POOL,
  passes: plan.passes,
  host: `${cpus.length} × ${cpus[0]?.model ?? '?'}`,
  rows,
  writeProofs,
  storms,
  skipped,
};
const out = resolve(args.out);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
log(`\n${costSection(results)}`);
log(`wrote ${out}`);
