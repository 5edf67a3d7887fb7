/**
 * The three commands the store sends, binary in and out. Only the shape of
 * the client is described here (no import from its package).
 */

/** An ioredis client, `new Redis()` or `new Cluster()`: the part the store uses. */
export interface IoredisClient {
  /** `true` on a `Cluster`. */
  readonly isCluster: boolean;
  callBuffer(
    ...args: [command: string, ...args: Array<string | Buffer | number>]
  ): Promise<unknown>;
}

/** Every client {@link redisStore} takes. */
export type RedisClient = IoredisClient;

/** A Lua script and its SHA1, as `EVALSHA` wants it. */
export interface Script {
  readonly lua: string;
  readonly sha: string;
}

/** What the store sends, whichever client carries it. */
export interface Commands {
  /** Whether the client talks to Redis Cluster. */
  readonly cluster: boolean;
  /** `SET key value NX PX ms GET`: the value already there (nothing was set), or null (set). */
  setIfAbsent(key: string, value: Buffer, ms: number): Promise<Buffer | null>;
  get(key: string): Promise<Buffer | null>;
  /** `EVALSHA`, or `EVAL` when Redis does not have the script (yet). */
  run(script: Script, key: string, args: ReadonlyArray<Buffer | string>): Promise<unknown>;
}

/** Redis refused EVALSHA because its script cache lacks the script: it did not run. */
const noScript = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('NOSCRIPT');

function withFallback(
  script: Script,
  send: (command: 'EVALSHA' | 'EVAL', body: string) => Promise<unknown>,
): Promise<unknown> {
  // NOSCRIPT (restart, failover, SCRIPT FLUSH, a new Cluster node): EVAL runs
  // the script once and caches it again. Every other error is thrown.
  return send('EVALSHA', script.sha).catch((error: unknown) => {
    if (!noScript(error)) throw error;
    return send('EVAL', script.lua);
  });
}

function ioredis(client: IoredisClient): Commands {
  return {
    cluster: client.isCluster === true,
    setIfAbsent: (key, value, ms) =>
      client.callBuffer('SET', key, value, 'PX', ms, 'NX', 'GET') as Promise<Buffer | null>,
    get: (key) => client.callBuffer('GET', key) as Promise<Buffer | null>,
    run: (script, key, args) =>
      withFallback(script, (command, body) => client.callBuffer(command, body, 1, key, ...args)),
  };
}

/** The commands for `client`, or undefined when it is neither an ioredis nor a node-redis client. */
export function commandsFor(client: unknown): Commands | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const c = client as Partial<IoredisClient>;
  if (typeof c.callBuffer === 'function') return ioredis(client as IoredisClient);
  return undefined;
}
