import { createHash } from 'node:crypto';
import {
  atLeastZero,
  type ClaimRequest,
  type ClaimResult,
  ConfigurationError,
  defineOptions,
  type OwnerResult,
  option,
  ResponseTooLargeError,
  required,
  rule,
  type Store,
  type StoredRecord,
  type StoredResponse,
  string,
} from '@idem/core/store';
import { type Commands, commandsFor, type RedisClient, type Script } from './clients.js';

export type {
  IoredisClient,
  NodeRedisClient,
  NodeRedisCluster,
  NodeRedisCommandOptions,
  RedisClient,
} from './clients.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * A connected (or lazily connecting) client; the store never closes it.
   * ioredis: `new Redis(url)` or `new Cluster(nodes)`, recommended options
   * `{ maxRetriesPerRequest: 1, commandTimeout: 2_000 }`. node-redis (`redis`
   * v5 or newer): `createClient()` or `createCluster()`, connected. See the
   * README for what each does when a connection drops.
   */
  readonly client: RedisClient;
  /**
   * Prepended to every store key; one Redis key per record. On Redis Cluster
   * it must not hold a `{…}` hash tag (every record would land in one slot).
   * @default 'idem:'
   */
  readonly prefix?: string;
  /**
   * Largest response body kept, in bytes; `complete` throws
   * `ResponseTooLargeError` above it (the engine then records "ran, not stored").
   * @default Infinity (the engine's own `maxResponseBytes`, 10 MiB, applies)
   */
  readonly maxResponseBytes?: number;
}

/*
 * A record is one Redis string under one key, so every operation touches one
 * hash slot. Its expiry is the key's own (PX, relative, so Redis's clock
 * decides): a lease that ran out, or a completed record past its TTL, is a key
 * Redis no longer returns. Hence a claim is one native command, SET NX GET,
 * and so is a replay; read is GET. complete, release and renew must compare
 * the owner token first: each is a short Lua script (one GET, one write).
 *
 * Layout (integers big-endian; deadlines are epoch ms on the writer's clock,
 * reported to the engine but never used to decide liveness):
 *   in flight: 0x01 | token length u16 | token | lease deadline u48 | fingerprint
 *   completed: 0x02 | expiry u48 | status u16 | headers length u32 | headers (JSON) |
 *              fingerprint | body (raw bytes, to the end)
 * where a fingerprint is its length (u16) and its bytes. The first three
 * fields of an in-flight record (its "owner prefix") identify the owner:
 * scripts compare them byte for byte.
 */
const IN_FLIGHT = 1;
const COMPLETED = 2;

const script = (lua: string): Script => ({
  lua,
  sha: createHash('sha1').update(lua).digest('hex'),
});

const SCRIPTS = {
  // complete and renew. ARGV: owner prefix, new record, ms to live, and
  // optionally the record's tail: then ARGV[2] is its head, and the
  // fingerprint between them is copied from the in-flight record. A record
  // that is already exactly the new one is this very call, sent again after
  // its connection dropped: it took effect.
  replace: script(`local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  local new = ARGV[2]
  if ARGV[4] then new = new .. string.sub(v, #ARGV[1] + 7) .. ARGV[4] end
  redis.call('SET', KEYS[1], new, 'PX', ARGV[3])
  return 1
end
if v and (v == ARGV[2] or (ARGV[4] and string.sub(v, 1, #ARGV[2]) == ARGV[2]
    and string.sub(v, #v - #ARGV[4] + 1) == ARGV[4])) then return 1 end
return 0`),
  // ARGV: owner prefix.
  release: script(`local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`),
};

/** Redis wants whole milliseconds, at least 1; rounding up never shortens a lease. */
const wholeMs = (ms: number): number => Math.max(1, Math.ceil(ms));

const EMPTY = Buffer.alloc(0);

/** Kind, token length and token: the bytes that identify an in-flight record's owner. */
function ownerPrefix(token: string): Buffer {
  const length = Buffer.byteLength(token);
  const prefix = Buffer.allocUnsafe(3 + length);
  prefix[0] = IN_FLIGHT;
  prefix.writeUInt16BE(length, 1);
  prefix.write(token, 3);
  return prefix;
}

/** A fingerprint as records hold it: its length, then its bytes. */
function fingerprintField(fingerprint: string): Buffer {
  const length = Buffer.byteLength(fingerprint);
  const field = Buffer.allocUnsafe(2 + length);
  field.writeUInt16BE(length, 0);
  field.write(fingerprint, 2);
  return field;
}

/**
 * An in-flight record in one allocation (owner prefix, lease deadline,
 * fingerprint field), rather than three Buffers and their concatenation on
 * every claim.
 */
function inFlightRecord(token: string, leaseMs: number, fingerprint: Buffer): Buffer {
  const length = Buffer.byteLength(token);
  const record = Buffer.allocUnsafe(3 + length + 6 + fingerprint.byteLength);
  record[0] = IN_FLIGHT;
  record.writeUInt16BE(length, 1);
  record.write(token, 3);
  record.writeUIntBE(Date.now() + leaseMs, 3 + length, 6);
  fingerprint.copy(record, 9 + length);
  return record;
}

const deadline = (ms: number): Buffer => {
  const bytes = Buffer.allocUnsafe(6);
  bytes.writeUIntBE(Date.now() + ms, 0, 6);
  return bytes;
};

/** A completed record up to its fingerprint. */
function completedHead(response: StoredResponse, ttlMs: number): Buffer {
  const headers = JSON.stringify(response.headers);
  const length = Buffer.byteLength(headers);
  const head = Buffer.allocUnsafe(13 + length);
  head[0] = COMPLETED;
  head.writeUIntBE(Date.now() + ttlMs, 1, 6);
  head.writeUInt16BE(response.status, 7);
  head.writeUInt32BE(length, 9);
  head.write(headers, 13);
  return head;
}

function decode(value: Buffer): StoredRecord {
  if (value[0] === IN_FLIGHT) {
    const at = 3 + value.readUInt16BE(1);
    const fpLength = value.readUInt16BE(at + 6);
    return {
      state: 'in_progress',
      fingerprint: value.toString('utf8', at + 8, at + 8 + fpLength),
      leaseExpiresAt: value.readUIntBE(at, 6),
    };
  }
  if (value[0] !== COMPLETED) {
    throw new ConfigurationError(
      'redisStore: a key under the prefix holds a value idem did not write: give idem a prefix of its own.',
    );
  }
  const headersEnd = 13 + value.readUInt32BE(9);
  const fpEnd = headersEnd + 2 + value.readUInt16BE(headersEnd);
  // A Uint8Array of its own, not a Buffer view that pins the socket's read buffer.
  const body = new Uint8Array(value.byteLength - fpEnd);
  body.set(value.subarray(fpEnd));
  return {
    state: 'completed',
    fingerprint: value.toString('utf8', headersEnd + 2, fpEnd),
    expiresAt: value.readUIntBE(1, 6),
    response: {
      status: value.readUInt16BE(7),
      headers: JSON.parse(value.toString('utf8', 13, headersEnd)),
      body,
    },
  };
}

const owner = (reply: unknown): OwnerResult => (reply === 1 ? 'ok' : 'stale');

/** Fingerprints of claims in flight one store remembers (a few MB at most). */
const MAX_REMEMBERED = 10_000;

const WHERE = 'idem: redisStore()';

const resolveOptions = defineOptions({
  client: required(
    rule<RedisClient>(
      'an ioredis client (new Redis(url), new Cluster(nodes)) or a connected node-redis client (await createClient({ url }).connect(), createCluster(...))',
      (v) => commandsFor(v) !== undefined,
    ),
  ),
  prefix: option(string, 'idem:'),
  maxResponseBytes: option(atLeastZero('bytes'), Number.POSITIVE_INFINITY),
});

function configured(options: RedisStoreOptions): {
  commands: Commands;
  prefix: string;
  maxResponseBytes: number;
} {
  const { client, prefix, maxResponseBytes } = resolveOptions(options, WHERE);
  const commands = commandsFor(client)!;
  // Redis Cluster hashes only the part between the first '{' and the next '}' when it is not empty.
  const open = prefix.indexOf('{');
  const close = open < 0 ? -1 : prefix.indexOf('}', open + 1);
  if (commands.cluster && close > open + 1) {
    throw new ConfigurationError(
      `${WHERE}: option "prefix" ('${prefix}') holds a hash tag ('${prefix.slice(open, close + 1)}'), which puts every record in one Redis Cluster slot, on one node; remove the braces, e.g. prefix: '${prefix.replace(/[{}]/g, '')}'.`,
    );
  }
  return { commands, prefix, maxResponseBytes };
}

/**
 * A {@link Store} on Redis 7.0 or newer, through ioredis or node-redis: one
 * round trip per operation, atomic, fenced by owner tokens. A claim (and so a
 * replay) is one native `SET … NX PX … GET`, a read one `GET`; complete,
 * release and renew are short Lua scripts sent by SHA (`EVALSHA`, falling
 * back to `EVAL` when Redis lost its script cache). Leases and expiry are the
 * keys' own expiry, on Redis's clock: Redis deletes dead records itself.
 * Works on standalone Redis and Redis Cluster (each record is one key).
 *
 * @example
 * ```ts
 * import { createIdempotency } from '@idem/core';
 * import { redisStore } from '@idem/store-redis';
 * import { Redis } from 'ioredis';
 *
 * const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
 *   maxRetriesPerRequest: 1,
 *   commandTimeout: 2_000,
 * });
 * const idem = createIdempotency({ store: redisStore({ client }) });
 * ```
 */
export function redisStore(options: RedisStoreOptions): Store {
  const { commands, prefix, maxResponseBytes } = configured(options);
  /*
   * The fingerprints of this instance's claims in flight, by Redis key, so
   * complete and renew can send the whole new record and the script only
   * compares and writes (copying the fingerprint over in Lua costs Redis
   * about a tenth more). Bounded; a claim it does not know (another
   * instance's, or evicted) takes the copying path.
   */
  const claims = new Map<string, { token: string; fingerprint: Buffer }>();
  const remember = (redisKey: string, token: string, fingerprint: Buffer) => {
    if (claims.size >= MAX_REMEMBERED) claims.delete(claims.keys().next().value!);
    claims.set(redisKey, { token, fingerprint });
  };

  /** complete or renew: `head`, the fingerprint, then `tail`, if `token` owns the record. */
  async function replace(redisKey: string, token: string, head: Buffer, tail: Buffer, ms: number) {
    const known = claims.get(redisKey);
    const args =
      known?.token === token
        ? [ownerPrefix(token), Buffer.concat([head, known.fingerprint, tail]), String(ms)]
        : [ownerPrefix(token), head, String(ms), tail];
    return owner(await commands.run(SCRIPTS.replace, redisKey, args));
  }

  return {
    maxResponseBytes,
    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const { token, leaseMs } = request;
      const lease = wholeMs(leaseMs);
      const fingerprint = fingerprintField(request.fingerprint);
      const value = inFlightRecord(token, lease, fingerprint);
      const redisKey = prefix + key;
      const existing = await commands.setIfAbsent(redisKey, value, lease);
      if (existing === null) {
        remember(redisKey, token, fingerprint);
        return { claimed: true };
      }
      // In flight under our own token: this very claim, sent again after its
      // connection dropped. Our record's owner prefix is its first bytes.
      const owned = 3 + value.readUInt16BE(1);
      if (existing.byteLength >= owned && existing.compare(value, 0, owned, 0, owned) === 0) {
        remember(redisKey, token, fingerprint);
        return { claimed: true };
      }
      return { claimed: false, record: decode(existing) };
    },
    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      const { body } = response;
      if (body.byteLength > maxResponseBytes) {
        throw new ResponseTooLargeError(body.byteLength, maxResponseBytes);
      }
      const ttl = wholeMs(ttlMs);
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const redisKey = prefix + key;
      const result = await replace(redisKey, token, completedHead(response, ttl), bytes, ttl);
      claims.delete(redisKey); // completed, or no longer ours: done either way
      return result;
    },
    async release(key: string, token: string): Promise<OwnerResult> {
      const redisKey = prefix + key;
      if (claims.get(redisKey)?.token === token) claims.delete(redisKey);
      return owner(await commands.run(SCRIPTS.release, redisKey, [ownerPrefix(token)]));
    },
    async remove(key: string): Promise<void> {
      claims.delete(prefix + key);
      await commands.del(prefix + key);
    },
    async renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      const lease = wholeMs(leaseMs);
      return replace(
        prefix + key,
        token,
        Buffer.concat([ownerPrefix(token), deadline(lease)]),
        EMPTY,
        lease,
      );
    },
    async read(key: string): Promise<StoredRecord | undefined> {
      const value = await commands.get(prefix + key);
      return value === null ? undefined : decode(value);
    },
  };
}
