/**
 * What the benchmark measures: frameworks, stores, libraries, and which
 * library runs on which framework and store.
 */

/**
 * `web` and `bun` are a plain Fetch handler (`(Request) => Response`, no
 * framework) on Node's HTTP server through @hono/node-server (the server the
 * Hono rows use) and on `Bun.serve`; their idem rows are `@idem/web`.
 */
export const FRAMEWORKS = ['hono', 'express', 'fastify', 'web', 'bun'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/** The frameworks that run in Bun rather than Node. */
export const BUN_FRAMEWORKS: readonly Framework[] = ['bun'];

/**
 * The stores measured per framework where not all of them are: the Fetch
 * handler rows measure the adapter's translation, which the memory store and
 * Redis show; PostgreSQL and DynamoDB would add only their clients' cost.
 */
const FRAMEWORK_STORES: Partial<Record<Framework, readonly StoreKind[]>> = {
  web: ['memory', 'redis'],
  bun: ['memory', 'redis'],
};

export const STORES = ['memory', 'redis', 'postgres', 'dynamodb'] as const;
export type StoreKind = (typeof STORES)[number];

export const LIBRARIES = [
  'bare',
  'idem',
  'idem-cache',
  'express-idempotency',
  'node-idempotency',
  'powertools',
] as const;
export type Library = (typeof LIBRARIES)[number];

/**
 * idem's own rows: as the READMEs show it, and the same with the replay cache
 * on (`cache: replayCache()`). The targets judge `idem` alone; `idem-cache` is never a peer.
 */
export type Ours = 'idem' | 'idem-cache';
export type Peer = Exclude<Library, 'bare' | Ours>;

/** Whether a row is idem's own (either configuration), not a peer's or the bare framework's. */
export function isOurs(library: Library): library is Ours {
  return library === 'idem' || library === 'idem-cache';
}

/** One server configuration: a child process of its own. */
export interface Unit {
  readonly framework: Framework;
  /** `none` for the bare framework. */
  readonly store: StoreKind | 'none';
  readonly library: Library;
}

export const FRAMEWORK_LABEL: Record<Framework, string> = {
  hono: 'Hono 4 (@hono/node-server)',
  express: 'Express 5',
  fastify: 'Fastify 5',
  web: 'Fetch handler on Node (@hono/node-server; idem is @idem/web)',
  bun: 'Fetch handler on Bun.serve (idem is @idem/web)',
};

export const SHORT_FRAMEWORK_LABEL: Record<Framework, string> = {
  hono: 'Hono',
  express: 'Express',
  fastify: 'Fastify',
  web: 'Fetch (Node)',
  bun: 'Bun.serve',
};

export const STORE_LABEL: Record<StoreKind | 'none', string> = {
  none: '—',
  memory: 'memory',
  redis: 'Redis',
  postgres: 'PostgreSQL',
  dynamodb: 'DynamoDB (dynalite)',
};

export const LIBRARY_LABEL: Record<Library, string> = {
  bare: 'bare framework',
  idem: 'idem',
  'idem-cache': 'idem, replay cache on',
  'express-idempotency': 'express-idempotency',
  'node-idempotency': '@node-idempotency/core',
  powertools: '@aws-lambda-powertools/idempotency',
};

/** The npm packages behind each peer row, as installed (exact versions in package.json). */
export const LIBRARY_PACKAGES: Record<Peer, readonly string[]> = {
  'express-idempotency': ['express-idempotency', 'express-idempotency-redis-adapter'],
  'node-idempotency': [
    '@node-idempotency/core',
    '@node-idempotency/storage-adapter-memory',
    '@node-idempotency/storage-adapter-redis',
  ],
  powertools: ['@aws-lambda-powertools/idempotency', '@redis/client', '@aws-sdk/lib-dynamodb'],
};

/** Which stores each peer supports, and on which frameworks we wire it; idem runs everywhere. */
const SUPPORT: Record<
  Exclude<Library, 'bare' | 'idem'>,
  { frameworks: readonly Framework[]; stores: readonly StoreKind[] }
> = {
  // The cache saves store round trips: nothing to save on the memory store.
  'idem-cache': {
    frameworks: ['hono', 'express', 'fastify'],
    stores: ['redis', 'postgres', 'dynamodb'],
  },
  // An Express middleware; its adapters: memory (built in), Redis, MongoDB (no MongoDB here).
  'express-idempotency': { frameworks: ['express'], stores: ['memory', 'redis'] },
  // Framework-neutral core; its Express/Fastify/Postgres packages are not on the registry.
  'node-idempotency': { frameworks: ['hono', 'express', 'fastify'], stores: ['memory', 'redis'] },
  // A function wrapper; persistence in DynamoDB or Redis (no in-memory persistence layer).
  powertools: { frameworks: ['hono', 'express', 'fastify'], stores: ['redis', 'dynamodb'] },
};

/** Every unit of a run, grouped by framework, in the order a pass measures them. */
export function planUnits(options: {
  frameworks?: readonly Framework[];
  stores?: readonly StoreKind[];
  libraries?: readonly Library[];
}): Unit[] {
  const frameworks = options.frameworks ?? FRAMEWORKS;
  const stores = options.stores ?? STORES;
  const libraries = options.libraries ?? LIBRARIES;
  const units: Unit[] = [];
  for (const framework of frameworks) {
    if (libraries.includes('bare')) units.push({ framework, store: 'none', library: 'bare' });
    for (const store of stores) {
      if (FRAMEWORK_STORES[framework] && !FRAMEWORK_STORES[framework].includes(store)) continue;
      for (const library of libraries) {
        if (library === 'bare') continue;
        if (library !== 'idem') {
          const support = SUPPORT[library];
          if (!support.frameworks.includes(framework) || !support.stores.includes(store)) continue;
        }
        units.push({ framework, store, library });
      }
    }
  }
  return units;
}

export function unitId(unit: Unit): string {
  return `${unit.framework}/${unit.store}/${unit.library}`;
}

/** Environment a server process needs to reach the stores of this run. */
export interface ServerEnv {
  readonly runId: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly pgTable: string;
  readonly dynamoEndpoint: string;
  readonly dynamoTable: string;
  readonly powertoolsTable: string;
}

/** What a server process is told to run (JSON in argv[2]). */
export interface ServerConfig extends ServerEnv {
  readonly unit: Unit;
}

/** What GET /stats answers. */
export interface ServerStats {
  /** POST requests that reached the HTTP server. */
  readonly posts: number;
  /** Times the payments handler ran. */
  readonly executions: number;
  /** Commands (Redis) or round trips (PostgreSQL) written on the store's sockets. */
  readonly storeCalls: number;
  /** Redis commands by name (PostgreSQL round trips are not broken down). */
  readonly storeOps: Readonly<Record<string, number>>;
  /** CPU time the server process used so far (user + system), in microseconds. */
  readonly cpuMicros: number;
  /** Records the peer or idem holds in process memory, where it can be read. */
  readonly records?: number;
}

/** The tiny JSON body every POST sends (the storm adds `delayMs`). */
export const PAYMENT_BODY = '{"amount":1999,"currency":"eur","description":"bench"}';
