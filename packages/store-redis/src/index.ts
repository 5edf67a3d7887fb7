import { createHash } from 'node:crypto';
import {
  type ClaimRequest,
  type ClaimResult,
  type OwnerResult,
  ResponseTooLargeError,
  type Store,
  type StoredRecord,
  type StoredResponse,
} from '@idem/core';
import type { Cluster, Redis } from 'ioredis';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * A connected (or lazily connecting) ioredis client: `new Redis(url)` or
   * `new Cluster(nodes)`. The store never closes it. Recommended options, so a
   * lost Redis answers 503 quickly instead of queueing requests:
   * `{ maxRetriesPerRequest: 1, commandTimeout: 2_000 }` (see the README).
   */
  readonly client: Redis | Cluster;
  /**
   * Prepended to every store key; one Redis key per record. Keep it free of
   * `{…}` hash tags on Redis Cluster, or every record lands in one slot.
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
 * A record is one Redis string, so every operation touches one key (one hash
 * slot on Redis Cluster) and runs as one Lua script: one round trip, atomic,
 * never check-then-set. One string is also the smallest layout: a hash with a
 * field over 64 bytes (a body, the headers) stops being a compact listpack.
 * Layout (Lua's struct library; lengths are 4-byte big-endian):
 *   kind (1 in flight, 2 completed), deadline (double, epoch ms on the Redis
 *   clock: lease end while in flight, expiry once completed), owner token
 *   (empty once completed), fingerprint; once completed also status, headers
 *   (JSON) and body (raw bytes).
 * The key expires (PXAT) at the deadline, so Redis deletes dead records
 * itself; scripts also compare the deadline with TIME, so a record is dead at
 * its deadline even before Redis got round to deleting it.
 */
const PRELUDE = `
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local HEAD, TAIL = '>BdI4c0I4c0', '>I4I4c0I4c0'
local function live()
  local v = redis.call('GET', key)
  if not v then return nil end
  local kind, deadline, owner, fp, tail = struct.unpack(HEAD, v)
  if deadline <= now then return nil end
  return { kind = kind, deadline = deadline, owner = owner, fp = fp, v = v, tail = tail }
end
local function owned(token)
  local r = live()
  if r and r.kind == 1 and r.owner == token then return r end
end
local function save(value, deadline)
  redis.call('SET', key, value, 'PXAT', string.format('%.0f', deadline))
end
local function inflight(token, fp, deadline)
  save(struct.pack(HEAD, 1, deadline, #token, token, #fp, fp), deadline)
end
local function reply(r)
  if r.kind == 1 then return { 1, r.fp, r.deadline } end
  local status, headers, body = struct.unpack(TAIL, r.v, r.tail)
  return { 2, r.fp, r.deadline, status, headers, body }
end
`;

const SCRIPTS = {
  // ARGV: fingerprint, token, leaseMs. Replies 0 when claimed, else the live record.
  claim: `
local r = live()
if r then
  -- The same fresh token means ioredis resent this very claim after a reconnect.
  if r.kind == 1 and r.owner == ARGV[2] then return 0 end
  return reply(r)
end
inflight(ARGV[2], ARGV[1], now + tonumber(ARGV[3]))
return 0`,
  // ARGV: token, ttlMs, status, headers, body.
  complete: `
local r = owned(ARGV[1])
if not r then return 0 end
local expires = now + tonumber(ARGV[2])
local h, b = ARGV[4], ARGV[5]
save(struct.pack(HEAD .. TAIL, 2, expires, 0, '', #r.fp, r.fp, tonumber(ARGV[3]), #h, h, #b, b), expires)
return 1`,
  // ARGV: token.
  release: `
if not owned(ARGV[1]) then return 0 end
redis.call('DEL', key)
return 1`,
  // ARGV: token, leaseMs.
  renew: `
local r = owned(ARGV[1])
if not r then return 0 end
inflight(r.owner, r.fp, now + tonumber(ARGV[2]))
return 1`,
  read: `
local r = live()
if r then return reply(r) end
return false`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type Arg = string | Buffer | number;
/** A record as the scripts reply it. */
type RecordReply =
  | [kind: 1, fingerprint: Buffer, leaseExpiresAt: number]
  | [
      kind: 2,
      fingerprint: Buffer,
      expiresAt: number,
      status: number,
      headers: Buffer,
      body: Buffer,
    ];

function decode(reply: RecordReply): StoredRecord {
  const fingerprint = reply[1].toString();
  if (reply[0] === 1) return { state: 'in_progress', fingerprint, leaseExpiresAt: reply[2] };
  const [, , expiresAt, status, headers, body] = reply;
  // A Uint8Array of its own, not a Buffer view that pins the socket's read buffer.
  const bytes = new Uint8Array(body.byteLength);
  bytes.set(body);
  return {
    state: 'completed',
    fingerprint,
    expiresAt,
    response: { status, headers: JSON.parse(headers.toString()), body: bytes },
  };
}

const owner = (reply: unknown): OwnerResult => (reply === 1 ? 'ok' : 'stale');

// Redis wants whole milliseconds; rounding up never shortens a lease.
const wholeMs = (ms: number): number => Math.ceil(ms);

/**
 * A {@link Store} on Redis through ioredis: each operation is one Lua script,
 * sent by SHA (`EVALSHA`, falling back to `EVAL` when Redis lost its script
 * cache), so one round trip and atomic. Leases and expiry run on Redis's
 * clock and Redis deletes dead records itself. Works on standalone Redis and
 * Redis Cluster (each record is one key), Redis 6.2 or newer (PXAT).
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * const client = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
 * const idem = createIdempotency({ store: redisStore({ client }) });
 * ```
 */
export function redisStore(options: RedisStoreOptions): Store {
  const client = options?.client;
  if (!client || typeof (client as Redis).callBuffer !== 'function') {
    throw new TypeError(
      'redisStore: pass an ioredis client as { client }, e.g. redisStore({ client: new Redis(process.env.REDIS_URL) }).',
    );
  }
  const prefix = options.prefix ?? 'idem:';
  if (typeof prefix !== 'string') {
    throw new TypeError(`redisStore: prefix must be a string, got ${typeof prefix}.`);
  }
  const maxResponseBytes = options.maxResponseBytes ?? Number.POSITIVE_INFINITY;
  if (
    typeof maxResponseBytes !== 'number' ||
    Number.isNaN(maxResponseBytes) ||
    maxResponseBytes < 0
  ) {
    throw new TypeError(
      `redisStore: maxResponseBytes must be a number of bytes, zero or more, got ${String(maxResponseBytes)}.`,
    );
  }
  const scripts = Object.fromEntries(
    Object.entries(SCRIPTS).map(([name, body]) => {
      const lua = PRELUDE + body;
      return [name, { lua, sha: createHash('sha1').update(lua).digest('hex') }];
    }),
  ) as Record<ScriptName, { lua: string; sha: string }>;

  async function run(name: ScriptName, key: string, args: Arg[]): Promise<unknown> {
    const { lua, sha } = scripts[name];
    const redisKey = prefix + key;
    try {
      return await client.callBuffer('EVALSHA', sha, 1, redisKey, ...args);
    } catch (error) {
      // NOSCRIPT means the script did not run (restart, failover, SCRIPT FLUSH):
      // EVAL runs it once and caches it again. Every other error is thrown.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.callBuffer('EVAL', lua, 1, redisKey, ...args);
    }
  }

  return {
    maxResponseBytes,
    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      const { fingerprint, token, leaseMs } = request;
      const reply = await run('claim', key, [fingerprint, token, wholeMs(leaseMs)]);
      if (reply === 0) return { claimed: true };
      return { claimed: false, record: decode(reply as RecordReply) };
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
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const headers = JSON.stringify(response.headers);
      return owner(
        await run('complete', key, [token, wholeMs(ttlMs), response.status, headers, bytes]),
      );
    },
    async release(key: string, token: string): Promise<OwnerResult> {
      return owner(await run('release', key, [token]));
    },
    async renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      return owner(await run('renew', key, [token, wholeMs(leaseMs)]));
    },
    async read(key: string): Promise<StoredRecord | undefined> {
      const reply = await run('read', key, []);
      return reply === null ? undefined : decode(reply as RecordReply);
    },
  };
}
