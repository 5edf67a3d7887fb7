/**
 * `@idem/test-stores` (private, test-only): every store the adapters' HTTP
 * conformance tests run on, each behind the same `reachServer` rule as the
 * stores' own tests. Memory always; Redis (through ioredis as `redis`, and
 * through node-redis as `redis-node`), PostgreSQL, MySQL/MariaDB and DynamoDB
 * when their server answers: locally a server that does not is skipped with a loud
 * banner, with `CI=true` it fails the test file.
 *
 * ```ts
 * const stores = await reachableStores({ label: 'hono' });
 * afterAll(() => stores.close());
 * httpSuite({ name: 'hono', stores: stores.stores, skipStores: stores.skipped, createServer });
 * ```
 *
 * `describeWebhooks` sends real-shaped provider deliveries and redeliveries
 * through an adapter's webhook routes (see tools/test-stores/src/webhooks.ts).
 *
 * This is a workspace package, not part of `@idem/conformance`, so the
 * published suite never depends on ioredis, node-redis, pg, mysql2, the AWS
 * SDK or dynalite.
 *
 * @packageDocumentation
 */
import type { Store } from '@idem/core/store';
import {
  type Backend,
  dynamodb,
  memory,
  mysqlBackend,
  postgres,
  redis,
  redisNode,
} from './backends.js';

/** The stores this helper knows. */
export type StoreName = 'memory' | 'redis' | 'redis-node' | 'postgres' | 'mysql' | 'dynamodb';

/** Every {@link StoreName}, in the order the suites run them. */
export const STORE_NAMES: readonly StoreName[] = [
  'memory',
  'redis',
  'redis-node',
  'postgres',
  'mysql',
  'dynamodb',
];

/** Options of {@link reachableStores}. */
export interface ReachableStoresOptions {
  /**
   * Names this run's Redis prefix, PostgreSQL and MySQL tables and DynamoDB table
   * (with a random suffix), so test files running at once never meet.
   * @default 'http'
   */
  readonly label?: string;
  /**
   * The stores to try. The `IDEM_TEST_STORES` environment variable (a comma
   * list, e.g. `memory,redis`) narrows it further for a quick local run.
   * @default STORE_NAMES
   */
  readonly only?: readonly StoreName[];
}

/** What {@link reachableStores} found. */
export interface TestStores {
  /**
   * A factory per store whose server answered, for `httpSuite({ stores })`.
   * The first call of a factory creates its table (PostgreSQL, MySQL, DynamoDB);
   * every call hands out a store on the file's one shared client.
   */
  readonly stores: Readonly<Record<string, () => Promise<Store>>>;
  /** Stores whose server did not answer (never with `CI=true`), with the reason: `httpSuite({ skipStores })`. */
  readonly skipped: Readonly<Record<string, string>>;
  /** Delete this run's records and tables, close the clients, stop dynalite. Call it once, after the suites. */
  close(): Promise<void>;
}

const OPEN: Readonly<Record<StoreName, (run: string) => Promise<Backend | string>>> = {
  memory,
  redis,
  'redis-node': redisNode,
  postgres,
  mysql: mysqlBackend,
  dynamodb,
};

function chosen(only: readonly StoreName[]): StoreName[] {
  const env = process.env.IDEM_TEST_STORES;
  if (!env) return [...only];
  const wanted = env.split(',').map((s) => s.trim().toLowerCase());
  const unknown = wanted.filter((name) => !(STORE_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `IDEM_TEST_STORES names unknown stores (${unknown.join(', ')}); use a comma list of ${STORE_NAMES.join(', ')}.`,
    );
  }
  return only.filter((name) => wanted.includes(name));
}

/**
 * Probe the stores' servers (at once) and return a factory for each one that
 * answered: Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`, through both clients),
 * PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
 * MySQL or MariaDB at `MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`),
 * DynamoDB at `DYNAMODB_ENDPOINT`, or else a dynalite started in this process
 * on an ephemeral port. With `CI=true` an unreachable server rejects.
 */
export async function reachableStores(options: ReachableStoresOptions = {}): Promise<TestStores> {
  const names = chosen(options.only ?? STORE_NAMES);
  const label = (options.label ?? 'http').toLowerCase().replace(/[^a-z0-9]+/g, '_');
  const run = `${label}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const results = await Promise.allSettled(names.map((name) => OPEN[name](run)));
  const opened = results.flatMap((r) =>
    r.status === 'fulfilled' && typeof r.value !== 'string' ? [r.value] : [],
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(opened.map((backend) => backend.close()));
    throw failed.reason;
  }
  const stores: Record<string, () => Promise<Store>> = {};
  const skipped: Record<string, string> = {};
  names.forEach((name, i) => {
    const result = (results[i] as PromiseFulfilledResult<Backend | string>).value;
    if (typeof result === 'string') skipped[name] = result;
    else stores[name] = result.create;
  });
  let closing: Promise<void> | undefined;
  return {
    stores,
    skipped,
    close() {
      closing ??= Promise.all(opened.map((backend) => backend.close())).then(() => {});
      return closing;
    },
  };
}

export { startDynalite } from './backends.js';
export {
  type BlackHole,
  blackHole,
  completeNeverSettles,
  describeHungStores,
  type HungStore,
  hungStores,
  type PayServer,
  type StartPayServer,
} from './hung.js';
export {
  type Accepted,
  type Answer,
  type DescribeWebhooksOptions,
  describeWebhooks,
  type Header,
  type StartWebhookServer,
  type Verdict,
  type WebhookApp,
  type WebhookRoute,
  type WebhookServer,
} from './webhooks.js';
