import type { AddressInfo } from 'node:net';
import {
  DeleteTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { reachServer } from '@idem/conformance';
import type { Store } from '@idem/core/store';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { memoryStore } from '@idem/store-memory';
import dynalite from 'dynalite';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';

/** One opened store backend: stores on demand, and the cleanup of this run. */
export interface Backend {
  /** A store on the backend's shared client; the first call sets up the table. */
  create(): Promise<Store>;
  close(): Promise<void>;
}

/** A server address as it may be printed: without credentials. */
const redact = (url: string) => url.replace(/\/\/[^@/]*@/, '//');

/**
 * Open one backend for a run, or say why it is left out. `run` is unique to
 * this call and safe in Redis keys, SQL identifiers and DynamoDB table names.
 */
type Open = (run: string) => Promise<Backend | string>;

export const memory: Open = async () => ({
  create: async () => memoryStore(),
  close: async () => {},
});

/** Whether Redis at `url` answers (a loud skip locally, a failure with CI=true). */
async function redisReachable(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  let cause: Error | undefined; // ioredis rejects with "Connection is closed."; say why
  probe.on('error', (error: Error) => {
    cause = error;
  });
  try {
    return await reachServer('Redis', redact(url), () =>
      probe.connect().catch((error: unknown) => {
        throw cause ?? error;
      }),
    );
  } finally {
    probe.disconnect();
  }
}

/** The part of `@idem/store-redis` used here. */
interface RedisModule {
  redisStore(options: { client: unknown; prefix?: string }): Store;
}

/** `@idem/store-redis`, loaded by path from its sources for the reason given at loadPostgresStore. */
export async function loadRedisStore(): Promise<RedisModule['redisStore']> {
  const source = '../../../packages/store-redis/src/index.ts';
  return ((await import(source)) as RedisModule).redisStore;
}

/** A Redis client as a backend needs it: for the store, for cleaning up, and to close. */
interface RedisConnection {
  /** An ioredis or node-redis client. */
  readonly client: unknown;
  /** The keys under `pattern`, a SCAN page at a time; deletes each page. */
  unlinkMatching(pattern: string): Promise<void>;
  close(): Promise<void>;
}

/** Redis at REDIS_URL through `connect`'s client, under a prefix of the run's own; its keys are deleted on close. */
function redisOn(connect: (url: string) => Promise<RedisConnection>): Open {
  return async (run) => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (!(await redisReachable(url))) return `Redis is not reachable at ${redact(url)}`;
    const redisStore = await loadRedisStore();
    const connection = await connect(url);
    const prefix = `idem-test:${run}:`;
    return {
      create: async () => redisStore({ client: connection.client, prefix }),
      async close() {
        await connection.unlinkMatching(`${prefix}*`);
        await connection.close();
      },
    };
  };
}

/** Redis through ioredis, with the options the store's README recommends: a lost Redis answers 503 fast. */
export const redis: Open = redisOn(async (url) => {
  const client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  client.on('error', () => {}); // a blip fails the check that met it, with the store's 503
  return {
    client,
    async unlinkMatching(pattern) {
      for (let cursor = '0'; ; ) {
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        if (keys.length > 0) await client.unlink(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
    },
    close: async () => void (await client.quit()),
  };
});

/** Redis through node-redis (`redis`), with the options the store's README recommends. */
export const redisNode: Open = redisOn(async (url) => {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    pingInterval: 1_000,
    socket: {
      socketTimeout: 3_000,
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000),
    },
    commandOptions: { timeout: 2_000 },
  });
  client.on('error', () => {}); // as above; node-redis throws 'error' events nobody listens to
  await client.connect();
  return {
    client,
    async unlinkMatching(pattern) {
      for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
        if (keys.length > 0) await client.unlink(keys);
      }
    },
    close: () => client.close(),
  };
});

/** The part of `@idem/store-postgres` used here. */
interface PostgresModule {
  postgresStore(options: { pool: pg.Pool; table: string }): Store & { migrate(): Promise<void> };
}

/**
 * `@idem/store-postgres`, loaded by path from its sources (what its
 * `@idem/source` export points at) rather than as a dependency: its own tests
 * use `@idem/hono` and this package, so depending on it here would close the
 * cycle hono → test-stores → store-postgres → hono, which pnpm and turbo warn
 * about and `tsc -b` refuses (the same holds for store-redis and store-mysql). The specifier is a variable so tsc leaves it alone.
 */
async function loadPostgresStore(): Promise<PostgresModule['postgresStore']> {
  const source = '../../../packages/store-postgres/src/index.ts';
  return ((await import(source)) as PostgresModule).postgresStore;
}

/** PostgreSQL at DATABASE_URL, in a table of the run's own, dropped on close. */
export const postgres: Open = async (run) => {
  const postgresStore = await loadPostgresStore();
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {}); // a lost idle connection is replaced
  let up = false;
  try {
    up = await reachServer('PostgreSQL', redact(url), () => pool.query('SELECT 1'));
  } finally {
    if (!up) await pool.end();
  }
  if (!up) return `PostgreSQL is not reachable at ${redact(url)}`;
  const table = `idem_test_${run}`;
  let migrated: Promise<void> | undefined;
  return {
    async create() {
      const store = postgresStore({ pool, table });
      migrated ??= store.migrate();
      await migrated;
      return store;
    },
    async close() {
      if (migrated) await pool.query(`DROP TABLE IF EXISTS ${table}`);
      await pool.end();
    },
  };
};

/** The part of `@idem/store-mysql` used here. */
interface MysqlModule {
  mysqlStore(options: { pool: mysql.Pool; table: string }): Store & { migrate(): Promise<void> };
}

/** `@idem/store-mysql`, loaded by path from its sources for the reason given at loadPostgresStore. */
async function loadMysqlStore(): Promise<MysqlModule['mysqlStore']> {
  const source = '../../../packages/store-mysql/src/index.ts';
  return ((await import(source)) as MysqlModule).mysqlStore;
}

/** MySQL or MariaDB at MYSQL_URL, in a table of the run's own, dropped with its procedures on close. */
export const mysqlBackend: Open = async (run) => {
  const mysqlStore = await loadMysqlStore();
  const url = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
  const pool = mysql.createPool({ uri: url, connectionLimit: 10, connectTimeout: 5_000 });
  let up = false;
  try {
    up = await reachServer('MySQL/MariaDB', redact(url), () => pool.query('SELECT 1'));
  } finally {
    if (!up) await pool.end();
  }
  if (!up) return `MySQL/MariaDB is not reachable at ${redact(url)}`;
  const table = `idem_test_${run}`;
  let migrated: Promise<void> | undefined;
  return {
    async create() {
      const store = mysqlStore({ pool, table });
      migrated ??= store.migrate();
      await migrated;
      return store;
    },
    async close() {
      if (migrated) {
        for (const routine of ['claim', 'begin', 'commit']) {
          await pool.query(`DROP PROCEDURE IF EXISTS ${table}_${routine}_v1`);
        }
        await pool.query(`DROP TABLE IF EXISTS ${table}`);
      }
      await pool.end();
    },
  };
};

/**
 * dynalite (the DynamoDB API, in memory) on an ephemeral loopback port, with
 * tables created and deleted at once; `close` drops its open connections.
 */
export async function startDynalite(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * DynamoDB at DYNAMODB_ENDPOINT (DynamoDB Local, AWS), or else a dynalite
 * started here on an ephemeral loopback port, in a table of the run's own:
 * deleted on close from a shared endpoint, gone with dynalite otherwise.
 */
export const dynamodb: Open = async (run) => {
  // The SDK warns once per process that its 2027 releases will need Node 22; noise in tests.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const configured = process.env.DYNAMODB_ENDPOINT;
  const client = (endpoint: string, config: Partial<DynamoDBClientConfig> = {}) =>
    new DynamoDBClient({
      endpoint,
      region: process.env.AWS_REGION ?? 'us-east-1',
      // dynalite and DynamoDB Local take any credentials; AWS uses the usual chain.
      ...(process.env.AWS_ACCESS_KEY_ID
        ? {}
        : { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
      ...config,
    });
  let endpoint: string;
  let stop = async () => {};
  if (configured) {
    const probe = client(configured, { maxAttempts: 1 });
    try {
      const up = await reachServer('DynamoDB', redact(configured), () =>
        probe.send(new ListTablesCommand({ Limit: 1 })),
      );
      if (!up) return `DynamoDB is not reachable at ${redact(configured)}`;
    } finally {
      probe.destroy();
    }
    endpoint = configured;
  } else {
    ({ endpoint, close: stop } = await startDynalite());
  }
  const shared = client(endpoint);
  const tableName = `idem-test-${run}`;
  let created: Promise<void> | undefined;
  return {
    async create() {
      created ??= dynamoDbStore({ client: shared, tableName }).createTable();
      await created;
      return dynamoDbStore({ client: shared, tableName });
    },
    async close() {
      if (created && configured)
        await shared.send(new DeleteTableCommand({ TableName: tableName }));
      shared.destroy();
      await stop();
    },
  };
};
