/**
 * A private redis-server and its own accounting of the commands clients
 * send, shared by src/redis-cpu.ts and the cost tool (src/cost/main.ts).
 *
 * Redis counts the commands that Lua scripts run inside it in `INFO
 * commandstats` too, although their time is already part of the script's:
 * {@link scriptCallsPerRequest} counts them per request from one window with
 * every command in the slow log (script calls show with the client `?:0`),
 * and {@link redisWindow} takes their share out of a command's time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import os from 'node:os';
import { Redis } from 'ioredis';

/**
 * commandstats times commands on the wall clock: a script preempted by the
 * load's own processes would count the wait as Redis's work. With two cores
 * or more, Redis gets core 1 to itself and this process runs on core 0.
 * Returns whether this process is now pinned.
 */
export function pinThisProcess(): boolean {
  if (os.cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // no taskset: unpinned, and said so in the output
  }
}

/** `command args` on `core` when `pinned`, as is otherwise. */
export function onCore(
  pinned: boolean,
  core: number,
  command: string,
  args: string[],
): [string, string[]] {
  return pinned ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
}

/** A TCP port nobody listens on now (on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A redis-server of this process's own, without persistence. */
export interface PrivateRedis {
  readonly url: string;
  readonly version: string;
  /** The redis-server's process id (of taskset, which execs it, when pinned). */
  readonly pid: number;
  stop(): void;
}

/** Start a redis-server on a free port (on core 1 when `pinned`), resolving once it answers. */
export async function startRedis(pinned: boolean): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn(
    ...onCore(pinned, 1, 'redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ]),
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { retryStrategy: () => 50, maxRetriesPerRequest: null });
  probe.on('error', () => {}); // refused until redis-server listens
  const version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? '?';
  probe.disconnect();
  return { url, version, pid: child.pid ?? 0, stop: () => child.kill('SIGKILL') };
}

/** Per command name: calls and usec (commandstats), or calls per request (script calls). */
export type Stats = Map<string, { calls: number; usec: number }>;

/** Commands of the measuring code itself, never of a library. */
const OWN = /^(config|slowlog|info)\b/;

/** `INFO commandstats`, without the measuring code's own commands. */
export async function commandStats(admin: Redis): Promise<Stats> {
  const stats: Stats = new Map();
  for (const m of (await admin.info('commandstats')).matchAll(
    /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm,
  )) {
    if (!OWN.test(m[1]!)) stats.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return stats;
}

/**
 * How many calls per request the scripts make inside Redis, by name, while
 * `run` sends `requests` requests with every command in the slow log, where
 * script calls show with the client `?:0`. Only this window logs: a script
 * pays for the slow-log entries of its own calls inside its own time.
 */
export async function scriptCallsPerRequest(
  admin: Redis,
  run: () => Promise<void>,
  requests: number,
): Promise<Stats> {
  await admin.config('SET', 'slowlog-max-len', '100000'); // room for a calibration window
  await admin.config('SET', 'slowlog-log-slower-than', '0');
  await admin.call('SLOWLOG', 'RESET');
  await run();
  await admin.config('SET', 'slowlog-log-slower-than', '10000');
  const entries = (await admin.call('SLOWLOG', 'GET', '-1')) as Array<
    [id: number, time: number, usec: number, argv: string[], addr: string]
  >;
  await admin.call('SLOWLOG', 'RESET');
  const inner: Stats = new Map();
  for (const [, , , argv, addr] of entries) {
    if (addr !== '?:0') continue;
    const name = argv[0]!.toLowerCase();
    const s = inner.get(name) ?? { calls: 0, usec: 0 };
    s.calls += 1 / requests;
    inner.set(name, s);
  }
  return inner;
}

/** Redis's cost of a window's requests. */
export interface RedisCost {
  /** Redis usec per request in the commands the client sent. */
  readonly us: number;
  /** Per command the client sent: calls per request and usec per call. */
  readonly commands: Record<string, { perRequest: number; usecPerCall: number }>;
}

/**
 * One window: commandstats reset, `run` sends `requests` requests,
 * commandstats read; `inner` (from {@link scriptCallsPerRequest}) is taken out.
 */
export async function redisWindow(
  admin: Redis,
  run: () => Promise<void>,
  requests: number,
  inner?: Stats,
): Promise<RedisCost> {
  await admin.config('RESETSTAT');
  await run();
  let usec = 0;
  const commands: RedisCost['commands'] = {};
  for (const [name, s] of await commandStats(admin)) {
    const scriptCalls = (inner?.get(name.split('|')[0]!)?.calls ?? 0) * requests;
    const calls = s.calls - scriptCalls;
    if (calls < 0.5) continue;
    const own = (s.usec * calls) / s.calls;
    usec += own;
    commands[name] = { perRequest: calls / requests, usecPerCall: own / calls };
  }
  return { us: usec / requests, commands };
}
