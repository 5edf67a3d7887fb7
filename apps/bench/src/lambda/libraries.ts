/**
 * The payments function as each library wraps it, on DynamoDB (dynalite)
 * and Redis: the bare handlers; @idem/lambda (`idempotency()` for the HTTP
 * API handler, its Middy middleware, `makeIdempotent` for the payload
 * handler) on @idem/store-dynamodb and @idem/store-redis; Powertools'
 * `makeIdempotent` and `makeHandlerIdempotent` (Middy) on its DynamoDB and
 * Redis (`/cache`) persistence layers, configured as its docs show. Each
 * library has its own client, so its requests are counted apart.
 */
import type { Store } from '@idem/core';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HttpHandler, PaymentHandler, PaymentsApp, Receipt } from './app.ts';
import { redisCounter, type StoreCounter } from './counters.ts';
import { idemTable, libraryClient, powertoolsTable } from './dynamodb.ts';
import { httpApiEvent, lambdaContext, paymentEvent } from './events.ts';

/** The stores both libraries run on: dynalite's DynamoDB API and the local Redis. */
export const LAMBDA_STORES = ['dynamodb', 'redis'] as const;
export type LambdaStore = (typeof LAMBDA_STORES)[number];
/** The bare handler, @idem/lambda and Powertools' idempotency utility. */
export const LAMBDA_LIBRARIES = ['bare', 'idem', 'powertools'] as const;
export type LambdaLibrary = (typeof LAMBDA_LIBRARIES)[number];
/**
 * `http`: an API Gateway HTTP API handler wrapped by the library's function
 * wrapper; `middy`: the same handler under Middy with the library's
 * middleware; `function`: a handler of a plain payload.
 */
export const ENTRIES = ['http', 'middy', 'function'] as const;
export type Entry = (typeof ENTRIES)[number];

/** How idem treats a duplicate in flight: its default (`reject`: 409 + Retry-After) or `wait`. */
export type Concurrent = 'reject' | 'wait';

/** The handlers of one Lambda instance, by entry. */
export interface Handlers {
  readonly http: HttpHandler;
  readonly middy: HttpHandler;
  readonly function: PaymentHandler;
}

/** One invocation of `entry` for `key`: its event (HTTP API 2.0 or the payload) and a fresh context. */
export function invokeEntry(
  handlers: Handlers,
  entry: Entry,
  key: string,
  delayMs?: number,
): Promise<APIGatewayProxyStructuredResultV2 | Receipt> {
  return entry === 'function'
    ? handlers.function(paymentEvent(key, delayMs), lambdaContext())
    : handlers[entry](httpApiEvent(key, delayMs), lambdaContext());
}

/** The handler under Middy with `middleware` (none for bare), as Middy's docs show it. */
function underMiddy(handler: HttpHandler, middleware?: MiddlewareObj): HttpHandler {
  const wrapped = middy(handler);
  if (middleware) wrapped.use(middleware);
  return wrapped as unknown as HttpHandler;
}

/** One library on one store (or none, bare). */
export interface LibrarySide {
  readonly library: LambdaLibrary;
  readonly store: LambdaStore | 'none';
  /** Counts the requests of this library's own client; absent for bare. */
  readonly counter?: StoreCounter;
  /** Whether its DynamoDB client answers lost claims with the item, as AWS does ({@link Servers}). */
  readonly conflictsWithItem?: boolean;
  /**
   * The handlers of one Lambda instance: an engine (idem) or a persistence
   * layer (Powertools) of its own on the library's client, as a separate
   * instance of the function would have (no sharing in memory between
   * duplicates that reach different instances).
   */
  instance(app: PaymentsApp, concurrent?: Concurrent): Handlers;
  close(): Promise<void>;
}

/** Where the stores are, and the run's id (in every key and table name). */
export interface Servers {
  readonly run: string;
  readonly dynamoEndpoint: string;
  readonly redisUrl: string;
  /**
   * Answer a lost conditional `PutItem` with the item in the way, as AWS
   * does when asked (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`);
   * dynalite ignores that parameter. Both libraries ask for it.
   * @default false
   */
  readonly conflictsWithItem?: boolean;
}

/** The handlers unwrapped: the baseline of every row. */
export function bareSide(): LibrarySide {
  return {
    library: 'bare',
    store: 'none',
    instance: (app) => ({ http: app.http, middy: underMiddy(app.http), function: app.payment }),
    close: async () => {},
  };
}

/** @idem/lambda on idem's store for `store`, on a client of its own. */
export async function idemSide(store: LambdaStore, servers: Servers): Promise<LibrarySide> {
  const { idempotency, makeIdempotent } = await import('@idem/lambda');
  const { idempotencyMiddleware } = await import('@idem/lambda/middy');
  const opened = await openIdemStore(store, servers);
  return {
    library: 'idem',
    store,
    counter: opened.counter,
    conflictsWithItem: store === 'dynamodb' && servers.conflictsWithItem === true,
    instance(app, concurrent) {
      const options = { store: opened.store, ...(concurrent ? { concurrent } : {}) };
      // The scope an app would take from its authorizer; one principal here.
      const http = { ...options, scope: () => 'bench' };
      return {
        http: idempotency<APIGatewayProxyEventV2>(http)(app.http),
        middy: underMiddy(
          app.http,
          idempotencyMiddleware<APIGatewayProxyEventV2>(http) as unknown as MiddlewareObj,
        ),
        function: makeIdempotent(app.payment, { ...options, key: '/paymentId' }),
      };
    },
    close: opened.close,
  };
}

async function openIdemStore(
  store: LambdaStore,
  servers: Servers,
): Promise<{ store: Store; counter: StoreCounter; close(): Promise<void> }> {
  if (store === 'dynamodb') {
    const { client, counter, close } = libraryClient(servers, 'pk');
    const { dynamoDbStore } = await import('@idem/store-dynamodb');
    return {
      store: dynamoDbStore({ client, tableName: idemTable(servers.run) }),
      counter,
      close: async () => close(),
    };
  }
  const { Redis } = await import('ioredis');
  // The client options the store's README recommends.
  const client = new Redis(servers.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  await client.ping();
  const { redisStore } = await import('@idem/store-redis');
  return {
    store: redisStore({ client, prefix: `idem-lambda-bench:${servers.run}:` }),
    counter: redisCounter,
    close: async () => void (await client.quit()),
  };
}

/**
 * Powertools as its docs show it: `makeIdempotent` around the handler, which
 * takes the Lambda context from the handler's second argument (its
 * in-progress expiry is the invocation's remaining time), the key selected
 * by `eventKeyJmesPath` (the `Idempotency-Key` header; the payment id), on
 * `DynamoDBPersistenceLayer` with its own SDK client or `CachePersistenceLayer`
 * (its Redis layer) with `@redis/client`.
 */
export async function powertoolsSide(store: LambdaStore, servers: Servers): Promise<LibrarySide> {
  const { makeIdempotent, IdempotencyConfig } = await import('@aws-lambda-powertools/idempotency');
  const { makeHandlerIdempotent } = await import('@aws-lambda-powertools/idempotency/middleware');
  type Persistence = import('@aws-lambda-powertools/idempotency/persistence').BasePersistenceLayer;
  let persistence: () => Persistence;
  let counter: StoreCounter;
  let close: () => Promise<void>;
  if (store === 'dynamodb') {
    const { DynamoDBPersistenceLayer } = await import(
      '@aws-lambda-powertools/idempotency/dynamodb'
    );
    const opened = libraryClient(servers, 'id');
    const client = opened.client;
    counter = opened.counter;
    persistence = () =>
      new DynamoDBPersistenceLayer({
        tableName: powertoolsTable(servers.run),
        awsSdkV3Client: client,
      });
    close = async () => opened.close();
  } else {
    const { createClient } = await import('@redis/client');
    const { CachePersistenceLayer } = await import('@aws-lambda-powertools/idempotency/cache');
    const client = await createClient({ url: servers.redisUrl }).connect();
    counter = redisCounter;
    persistence = () => new CachePersistenceLayer({ client: client as never });
    close = async () => void (await client.close());
  }
  // Its keys start with the function's name; the run's id keeps them apart between runs.
  const keyPrefix = (entry: Entry) => `powertools-lambda-${servers.run}-${entry}`;
  return {
    library: 'powertools',
    store,
    counter,
    conflictsWithItem: store === 'dynamodb' && servers.conflictsWithItem === true,
    // A persistence layer is configured once, by the first handler that uses it: one per handler.
    instance: (app) => ({
      http: makeIdempotent(app.http, {
        persistenceStore: persistence(),
        config: new IdempotencyConfig({ eventKeyJmesPath: HEADER_KEY }),
        keyPrefix: keyPrefix('http'),
      }),
      middy: underMiddy(
        app.http,
        makeHandlerIdempotent({
          persistenceStore: persistence(),
          config: new IdempotencyConfig({ eventKeyJmesPath: HEADER_KEY }),
          keyPrefix: keyPrefix('middy'),
        }) as MiddlewareObj,
      ),
      function: makeIdempotent(app.payment, {
        persistenceStore: persistence(),
        config: new IdempotencyConfig({ eventKeyJmesPath: 'paymentId' }),
        keyPrefix: keyPrefix('function'),
      }),
    }),
    close,
  };
}

/** Powertools' key of the HTTP rows: the `Idempotency-Key` header (JMESPath quotes the name). */
const HEADER_KEY = 'headers."idempotency-key"';

/** The side of `library` on `store`. */
export function openSide(
  library: LambdaLibrary,
  store: LambdaStore,
  servers: Servers,
): Promise<LibrarySide> {
  if (library === 'bare') return Promise.resolve(bareSide());
  return library === 'idem' ? idemSide(store, servers) : powertoolsSide(store, servers);
}
