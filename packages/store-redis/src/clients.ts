/**
 * The three commands the store sends, on ioredis or node-redis, binary in and
 * out. Only the shape of each client is described here (no import from
 * either package), so neither library's types are needed to use the other.
 */
import { ConfigurationError } from '@idem/core/store';

/** An ioredis client, `new Redis()` or `new Cluster()`: the part the store uses. */
export interface IoredisClient {
  /** `true` on a `Cluster`. */
  readonly isCluster: boolean;
  callBuffer(
    ...args: [command: string, ...args: Array<string | Buffer | number>]
  ): Promise<unknown>;
}

/** Per-command options of node-redis (`CommandOptions`): the part the store sets. */
export interface NodeRedisCommandOptions {
  readonly typeMapping?: Readonly<Record<number, unknown>>;
}

/** A node-redis client, `createClient()` from `redis` (v5 or newer): the part the store uses. */
export interface NodeRedisClient {
  sendCommand(
    args: ReadonlyArray<string | Buffer>,
    options?: NodeRedisCommandOptions,
  ): Promise<unknown>;
  withTypeMapping(typeMapping: never): unknown;
}

/** A node-redis cluster client, `createCluster()` from `redis` (v5 or newer): the part the store uses. */
export interface NodeRedisCluster {
  sendCommand(
    firstKey: string | Buffer | undefined,
    isReadonly: boolean | undefined,
    args: ReadonlyArray<string | Buffer>,
    options?: NodeRedisCommandOptions,
  ): Promise<unknown>;
  readonly masters: ReadonlyArray<unknown>;
}

/** Every client {@link redisStore} takes. */
export type RedisClient = IoredisClient | NodeRedisClient | NodeRedisCluster;

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
  /** `DEL key`: for operators' `remove`. */
  del(key: string): Promise<unknown>;
  /** `EVALSHA`, or `EVAL` when Redis does not have the script (yet). */
  run(script: Script, key: string, args: ReadonlyArray<Buffer | string>): Promise<unknown>;
}

// node-redis replies with strings unless told otherwise: bulk strings (RESP
// type '$', RESP_TYPES.BLOB_STRING = 36) come back as Buffers with this.
const BUFFERS: NodeRedisCommandOptions = { typeMapping: { 36: Buffer } };

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

/**
 * Replies that no retry can cure become a `ConfigurationError` naming the
 * fix (the engine logs it as a store that is not set up); others pass as they are.
 */
function explained(error: unknown): unknown {
  const message = error instanceof Error ? error.message : '';
  const fix = message.startsWith('NOPERM')
    ? 'the Redis user may not run a command the store needs: grant it GET, SET, DEL, EVALSHA and EVAL on the prefix (ACL SETUSER <user> +get +set +del +evalsha +eval ~<prefix>*)'
    : message.startsWith('WRONGTYPE')
      ? 'a key under the prefix holds another kind of value: give idem a prefix of its own'
      : /^ERR syntax error/.test(message)
        ? 'this Redis refused SET … NX … GET: @idem/store-redis needs Redis 7.0 or newer'
        : undefined;
  return fix ? new ConfigurationError(`redisStore: ${fix} (${message}).`, { cause: error }) : error;
}

const explain = (error: unknown): never => {
  throw explained(error);
};

/** The socket of a standalone ioredis client, once connected (ioredis keeps it on `stream`). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * ioredis writes each command to its socket at once: one system call per
 * command here, and one read and one reply write in Redis, the largest part
 * of a command's cost on both sides. Corking the socket until this turn of
 * the event loop ends lets the commands that requests issue together (the
 * claims of several requests, a claim and another's completion) leave in one
 * write and arrive in one read, as node-redis does by itself (it schedules
 * its writes with setImmediate too). Nothing waits past the current turn.
 */
function corker(client: IoredisClient): () => void {
  let corked: Corkable | undefined;
  const uncork = () => {
    const socket = corked;
    corked = undefined;
    socket?.uncork();
  };
  return () => {
    if (corked !== undefined || client.isCluster) return;
    const socket = (client as { stream?: Partial<Corkable> }).stream;
    if (typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') return;
    socket.cork();
    corked = socket as Corkable;
    setImmediate(uncork);
  };
}

function ioredis(client: IoredisClient): Commands {
  const cork = corker(client);
  return {
    cluster: client.isCluster === true,
    setIfAbsent: (key, value, ms) => {
      cork();
      return (
        client.callBuffer('SET', key, value, 'PX', ms, 'NX', 'GET') as Promise<Buffer | null>
      ).catch(explain);
    },
    get: (key) => {
      cork();
      return (client.callBuffer('GET', key) as Promise<Buffer | null>).catch(explain);
    },
    del: (key) => client.callBuffer('DEL', key).catch(explain),
    run: (script, key, args) => {
      cork();
      return withFallback(script, (command, body) =>
        client.callBuffer(command, body, 1, key, ...args),
      ).catch(explain);
    },
  };
}

/**
 * How long a command refused by a reconnecting node-redis client is offered
 * again: as long as the recommended `commandOptions.timeout` lets a command
 * wait to be sent, so turning the offline queue off costs no availability.
 */
const OFFLINE_WAIT_MS = 2_000;

/** node-redis refused the command while offline (`ClientOfflineError`): it was never queued or sent. */
const offline = (error: unknown): boolean =>
  error instanceof Error && error.message === 'The client is offline';

/**
 * node-redis failed the command because its connection dropped: it may or
 * may not have run. (A reply from Redis, such as NOSCRIPT, is not this.)
 */
const dropped = (error: unknown): boolean =>
  error instanceof Error &&
  (error.message === 'Socket closed unexpectedly' ||
    ['ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(String((error as { code?: unknown }).code)));

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Whether a node-redis client, or a cluster's node clients, queue commands
 * while they reconnect (`disableOfflineQueue` is off, the default). Read
 * from the options the client keeps (`options`, or a cluster's `defaults`).
 */
function queuesOffline(client: NodeRedisClient | NodeRedisCluster, cluster: boolean): boolean {
  const kept = client as {
    options?: { disableOfflineQueue?: unknown };
    _options?: { defaults?: { disableOfflineQueue?: unknown } };
  };
  const options = cluster ? kept._options?.defaults : kept.options;
  return options?.disableOfflineQueue !== true;
}

function nodeRedis(client: NodeRedisClient | NodeRedisCluster): Commands {
  const cluster = 'masters' in client;
  /*
   * node-redis 5 (5.12 at least) schedules a command's write for the end of
   * the event loop's turn. When the connection drops within that turn, it
   * fails the commands that were waiting for a reply, then the scheduled
   * write moves the queued commands into the reply queue and writes them
   * into the dead socket; nothing fails them, and after the reconnect each
   * reply goes to the command before its own (or the client hangs until its
   * socketTimeout). A claim could then be told the key was free by another
   * claim's reply, or be handed another key's stored response. Its offline
   * queue is what keeps those commands across the drop; with it off, the
   * drop fails them too, and the store offers a command refused while the
   * client reconnects again itself (it was never sent, so that is safe).
   * A command whose connection dropped under it is sent once more after the
   * reconnect, as ioredis does: every command the store sends may run twice
   * (a claim finds its own token and is claimed, a completion or renewal
   * finds its own write, a second release or delete changes nothing).
   */
  if (queuesOffline(client, cluster)) {
    throw new ConfigurationError(
      `redisStore: this node-redis client queues commands while it reconnects (disableOfflineQueue is off, node-redis's default). After a dropped connection node-redis can then hand a command another command's reply, which would run an operation twice or replay another key's result. Create it with disableOfflineQueue: true: ${
        cluster
          ? 'createCluster({ ..., defaults: { disableOfflineQueue: true } })'
          : 'createClient({ ..., disableOfflineQueue: true })'
      }; the store waits for a reconnecting client itself. If the rest of your app wants the queue, give idem a client of its own (client.duplicate({ disableOfflineQueue: true })).`,
    );
  }
  // Every command goes to the key's master (never a replica: a record must be read where it is written).
  const once = (key: string, args: ReadonlyArray<string | Buffer>) =>
    cluster
      ? (client as NodeRedisCluster).sendCommand(key, false, args, BUFFERS)
      : (client as NodeRedisClient).sendCommand(args, BUFFERS);
  async function send(key: string, args: ReadonlyArray<string | Buffer>): Promise<unknown> {
    let until = 0; // set at the first failure: a command that succeeds reads no clock
    let resent = false;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        return await once(key, args);
      } catch (error) {
        until ||= Date.now() + OFFLINE_WAIT_MS;
        const again = offline(error) || (!resent && dropped(error));
        if (!again || Date.now() + delay > until) explain(error);
        resent ||= dropped(error);
      }
      await pause(delay);
    }
  }
  return {
    cluster,
    setIfAbsent: (key, value, ms) =>
      send(key, ['SET', key, value, 'PX', String(ms), 'NX', 'GET']) as Promise<Buffer | null>,
    get: (key) => send(key, ['GET', key]) as Promise<Buffer | null>,
    del: (key) => send(key, ['DEL', key]),
    run: (script, key, args) =>
      withFallback(script, (command, body) => send(key, [command, body, '1', key, ...args])),
  };
}

/**
 * The commands for `client`, or undefined when it is neither an ioredis nor a
 * node-redis client. Throws for a node-redis Sentinel client.
 */
export function commandsFor(client: unknown): Commands | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const c = client as Partial<IoredisClient & NodeRedisClient & NodeRedisCluster> & {
    getMasterNode?: unknown;
    release?: unknown;
  };
  // ioredis first: its clients have a sendCommand too, with another meaning.
  if (typeof c.callBuffer === 'function') return ioredis(client as IoredisClient);
  if (typeof c.sendCommand !== 'function' || typeof c.withTypeMapping !== 'function') {
    return undefined;
  }
  if (typeof c.getMasterNode === 'function' || typeof c.release === 'function') {
    throw new ConfigurationError(
      'redisStore: node-redis Sentinel clients (createSentinel) are not supported yet; use ioredis with `sentinels` (new Redis({ sentinels, name })), which follows failovers the same way.',
    );
  }
  return nodeRedis(client as NodeRedisClient | NodeRedisCluster);
}
