import { connect as connectTcp } from 'node:net';
import { reachServer } from '@idem/conformance';
import { Redis, type RedisOptions } from 'ioredis';
import { createClient, type RedisClientOptions } from 'redis';
import type { RedisClient } from '../src/index.js';

/** The Redis the tests run against. */
export const url: string = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The client libraries the store takes. */
export type Library = 'ioredis' | 'node-redis';
export const LIBRARIES: readonly Library[] = ['ioredis', 'node-redis'];

/** The ioredis options the README recommends. */
export const recommended: RedisOptions = { maxRetriesPerRequest: 1, commandTimeout: 2_000 };

/**
 * The node-redis options the README recommends: no offline queue (the store
 * refuses a client with one, see src/clients.ts); node-redis times out only
 * the wait to be sent (`commandOptions.timeout`); a command sent to a Redis
 * that stopped answering is cut by `socketTimeout` (pings keep a healthy
 * idle connection busy), and the client reconnects after it.
 */
export function nodeRedisOptions(socketTimeout = 3_000): RedisClientOptions {
  return {
    disableOfflineQueue: true,
    pingInterval: Math.floor(socketTimeout / 3),
    socket: {
      socketTimeout,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
    },
    commandOptions: { timeout: 2_000 },
  };
}
export const recommendedNodeRedis: RedisClientOptions = nodeRedisOptions();

/**
 * The recommended options with 15 s timeouts, for tests of what the store
 * does rather than of how a client gives up: a 2 s command timeout fires on a
 * busy 2-core machine running test files side by side.
 */
export const patient: ClientOptions = {
  ioredis: { ...recommended, commandTimeout: 15_000 },
  nodeRedis: { ...nodeRedisOptions(15_000), commandOptions: { timeout: 15_000 } },
};

/** Whether Redis answers: skips loudly locally, throws with CI=true. */
export async function redisUp(): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  let cause: Error | undefined; // ioredis rejects with "Connection is closed."; say why
  probe.on('error', (error: Error) => {
    cause = error;
  });
  try {
    return await reachServer('Redis', url, () =>
      probe.connect().catch((error: unknown) => {
        throw cause ?? error;
      }),
    );
  } finally {
    probe.disconnect();
  }
}

/** A connected ioredis client; connection errors are expected in these tests, so they are not logged. */
export async function connect(
  options: RedisOptions = recommended,
  at: string = url,
): Promise<Redis> {
  const client = new Redis(at, { ...options, lazyConnect: true });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** A client of either library, with what the tests need to know about its connection. */
export interface TestClient {
  readonly library: Library;
  readonly client: RedisClient;
  /** Its connection's id (`CLIENT ID`), for `CLIENT KILL ID`. */
  id(): Promise<number>;
  /** Its connection's address as Redis sees it (`CLIENT INFO` addr), as MONITOR reports it. */
  addr(): Promise<string>;
  close(): void;
}

/** Options per library, for tests that change them; the recommended ones otherwise. */
export interface ClientOptions {
  readonly ioredis?: RedisOptions;
  readonly nodeRedis?: RedisClientOptions;
  readonly url?: string;
}

/** A connected client of `library`; connection errors are expected in these tests, so not logged. */
export async function connectAs(
  library: Library,
  options: ClientOptions = {},
): Promise<TestClient> {
  const at = options.url ?? url;
  if (library === 'ioredis') {
    const client = await connect(options.ioredis ?? recommended, at);
    return {
      library,
      client,
      id: async () => Number(await client.client('ID')),
      addr: async () => addrOf(String(await client.client('INFO'))),
      close: () => client.disconnect(),
    };
  }
  const client = createClient({ url: at, ...(options.nodeRedis ?? recommendedNodeRedis) });
  client.on('error', () => {}); // node-redis throws 'error' events nobody listens to
  await client.connect();
  return {
    library,
    client,
    id: async () => Number(await client.sendCommand(['CLIENT', 'ID'])),
    addr: async () => addrOf(String(await client.sendCommand(['CLIENT', 'INFO']))),
    close: () => client.destroy(),
  };
}

function addrOf(info: string): string {
  const addr = /\baddr=(\S+)/.exec(info)?.[1];
  if (!addr) throw new Error(`no addr in CLIENT INFO: ${info}`);
  return addr;
}

/** A prefix no other run uses, so tests can share one Redis. */
export const freshPrefix = (what: string): string =>
  `idem-test:${what}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `condition` holds, polling. */
export async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Records, through MONITOR on a connection of its own, every command one client
 * sends to Redis. Commands that scripts run inside Redis are not round trips
 * and do not show (MONITOR reports them with the source `lua`), nor do the
 * keepalive PINGs node-redis sends on its own timer (`pingInterval`), which can
 * land inside any window and belong to no operation.
 */
export interface CommandLog {
  /**
   * The commands the client sent while `action` ran, in order, as MONITOR
   * shows them; with `prefix`, only those naming a key under it. A busy
   * machine fires an earlier test's timers late (a renewal, a background
   * completion on the same client), inside this window: the prefix of the
   * store under test keeps them out.
   */
  during(action: () => Promise<unknown>, prefix?: string): Promise<string[][]>;
  close(): void;
}

/** One MONITOR line's source (`ip:port`, or `lua`) and its command's arguments. */
function parseMonitorLine(line: string): { source: string; args: string[] } | undefined {
  // +1796651205.918476 [0 127.0.0.1:47486] "GET" "idem-test:…"
  const head = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] /.exec(line);
  if (!head) return undefined;
  const args: string[] = [];
  for (const [, quoted] of line.slice(head[0].length).matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    args.push(
      (quoted ?? '').replace(/\\(x[0-9a-f]{2}|.)/g, (_, e: string) =>
        e.length === 3 ? String.fromCharCode(Number.parseInt(e.slice(1), 16)) : e,
      ),
    );
  }
  return { source: head[1]!, args };
}

/**
 * A log of the commands the connection at `addr` sends; `admin` writes the
 * markers. MONITOR runs on a raw socket: ioredis enters its monitoring state
 * a tick after Redis's OK, so on a busy Redis (other test files run side by
 * side) the first lines reach its command queue and it throws.
 */
export async function commandLog(
  addr: string,
  admin: Redis,
  at: string = url,
): Promise<CommandLog> {
  const { hostname, port } = new URL(at);
  const socket = connectTcp(Number(port || 6379), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve).once('error', reject);
  });
  socket.setEncoding('utf8');
  const events: Array<{ args: string[]; source: string }> = [];
  let pending = '';
  socket.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\r\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const event = parseMonitorLine(line);
      if (event) events.push(event);
    }
  });
  socket.write('MONITOR\r\n');
  const marker = async () => {
    const text = `idem-marker-${Math.random().toString(36).slice(2)}`;
    await admin.echo(text);
    await until(
      async () => events.some((e) => e.args[0]?.toLowerCase() === 'echo' && e.args[1] === text),
      `MONITOR to report ${text}`,
    );
    return events.findIndex((e) => e.args[1] === text);
  };
  return {
    async during(action, prefix) {
      const start = await marker();
      await action();
      const end = await marker();
      return events
        .slice(start + 1, end)
        .filter((e) => e.source === addr && e.args[0]?.toLowerCase() !== 'ping')
        .filter((e) => prefix === undefined || e.args.some((a) => a.startsWith(prefix)))
        .map((e) => e.args);
    },
    close: () => socket.destroy(),
  };
}
