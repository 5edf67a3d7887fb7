import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type ClaimRequest,
  type ClaimResult,
  ConfigurationError,
  clock,
  defineOptions,
  type OwnerResult,
  observe,
  option,
  type RecordState,
  ResponseTooLargeError,
  required,
  rule,
  type Store,
  type StoredRecord,
  type StoredResponse,
  toRecord,
} from '@idem/core/store';

/** Options of {@link dynamoDbStore}. */
export interface DynamoDbStoreOptions {
  /**
   * The DynamoDB client to use, from `@aws-sdk/client-dynamodb`. Its retry
   * and timeout settings (`maxAttempts`, `requestHandler`) decide how long an
   * operation may take before the store reports the failure.
   */
  readonly client: DynamoDBClient;
  /**
   * The table holding the records: a string partition key named `pk` and TTL
   * on the attribute `ttl` (see the README, or {@link DynamoDbStore.createTable}).
   */
  readonly tableName: string;
  /**
   * The store's clock, in epoch milliseconds. DynamoDB has no server clock
   * that conditions can read, so leases and expiry are judged by this one:
   * keep your instances' clocks in sync (NTP), with skew far below `leaseMs`.
   * @default Date.now
   */
  readonly now?: () => number;
}

/** A {@link Store} on a DynamoDB table. */
export interface DynamoDbStore extends Store {
  /** The table the records live in. */
  readonly tableName: string;
  /**
   * Largest response body kept, in bytes: 350 KiB, leaving room under
   * DynamoDB's 400 KB item limit for headers and bookkeeping.
   * @default 358_400
   */
  readonly maxResponseBytes: number;
  /**
   * Create the table (on-demand capacity, partition key `pk`) if it does not
   * exist, wait until it is active and turn on TTL for `ttl`. For development
   * and tests; declare production tables in your infrastructure code. An
   * endpoint without TTL support (dynalite) is tolerated: the store judges
   * expiry itself, TTL only frees the space.
   */
  createTable(): Promise<void>;
}

/** DynamoDB's item size limit (400 KB, counted as KiB). */
const ITEM_LIMIT = 400 * 1024;
const MAX_BODY = 350 * 1024;
/**
 * A completed item's size besides key, headers and body, counted as DynamoDB
 * counts it: attribute names, the state value, three numbers at their largest
 * (21 bytes), and 1 KiB for the fingerprint, which `complete` does not see
 * (the engine's are 64 bytes).
 */
const COMPLETED_FIXED_BYTES =
  'pk state completed fingerprint expiresAt ttl status headers body'.replaceAll(' ', '').length +
  3 * 21 +
  1024;
/**
 * TTL fires on AWS's clock, the store judges by the app's: deletion is put an
 * hour past the deadline so clock skew can never let DynamoDB delete a record
 * the store still considers live.
 */
const TTL_GRACE_SECONDS = 3600;
const CLAIM_ATTEMPTS = 5;

const IN_PROGRESS: AttributeValue = { S: 'in_progress' };
const COMPLETED: AttributeValue = { S: 'completed' };

// A claim succeeds when no live record stands in its way: none at all, a
// completed record past its expiry, or an in-flight record whose lease ran out.
// An in-flight record carries no expiresAt and a completed one no
// leaseExpiresAt; a comparison with a missing attribute is false. DynamoDB
// evaluates the condition and writes the item as one atomic step per item, so
// of any number of racing claims exactly one finds the key free.
const CLAIMABLE =
  'attribute_not_exists(#pk) OR #expiresAt <= :now OR (#state = :inProgress AND #leaseExpiresAt <= :now)';
// Only the current owner, while its lease is live, may complete, release or
// renew: a token whose lease ran out is stale even before anyone took over.
const OWNED = '#token = :token AND #state = :inProgress AND #leaseExpiresAt > :now';

/** ExpressionAttributeNames for the `#name` placeholders used (DynamoDB rejects unused ones). */
function namesIn(...expressions: string[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const [placeholder, name] of expressions.join(' ').matchAll(/#(\w+)/g)) {
    names[placeholder] = name!;
  }
  return names;
}

const num = (n: number): AttributeValue => ({ N: String(n) });
const ttlSeconds = (deadlineMs: number) => num(Math.ceil(deadlineMs / 1000) + TTL_GRACE_SECONDS);
const nameOf = (error: unknown) => (error as { name?: unknown } | null)?.name;
const conditionFailed = (error: unknown) => nameOf(error) === 'ConditionalCheckFailedException';
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const resolveOptions = defineOptions({
  client: required(
    rule<DynamoDBClient>(
      'a DynamoDB client, such as new DynamoDBClient({}) from @aws-sdk/client-dynamodb',
      (v) => typeof (v as { send?: unknown } | null)?.send === 'function',
    ),
  ),
  tableName: required(
    rule<string>(
      'the name of a DynamoDB table (3 to 255 characters)',
      (v) => typeof v === 'string' && v.length >= 3 && v.length <= 255,
    ),
  ),
  now: option(clock, Date.now),
});

/**
 * A store on a DynamoDB table: every operation is one conditional write or
 * one strongly consistent read. Works with AWS, DynamoDB Local and dynalite,
 * and on edge runtimes (it uses only the client and Web APIs).
 *
 * @example
 * ```ts
 * const store = dynamoDbStore({ client: new DynamoDBClient({}), tableName: 'idempotency' });
 * ```
 */
export function dynamoDbStore(options: DynamoDbStoreOptions): DynamoDbStore {
  // Names first: `{ table: 'x' }` is a typo of tableName, not a missing one.
  const { client, tableName, now } = resolveOptions(options, 'idem: dynamoDbStore()');
  const itemKey = (key: string) => ({ pk: { S: key } });

  /** Errors that need no DynamoDB expertise to fix say so; the rest pass unchanged. */
  function explain(error: unknown): unknown {
    if (nameOf(error) === 'ResourceNotFoundException') {
      return new ConfigurationError(
        `dynamoDbStore: table "${tableName}" was not found. Create it (see the README's table definition), call store.createTable() in development, or check the client's region and endpoint.`,
        { cause: error },
      );
    }
    return error;
  }

  function recordOf(item: Record<string, AttributeValue> | undefined, at: number) {
    if (item === undefined) return undefined;
    const { state, fingerprint, token, leaseExpiresAt, expiresAt, status, headers, body } = item;
    let parsed: RecordState | undefined;
    if (state?.S === 'in_progress' && fingerprint?.S !== undefined && leaseExpiresAt?.N) {
      parsed = {
        state: 'in_progress',
        fingerprint: fingerprint.S,
        token: token?.S ?? '',
        leaseExpiresAt: Number(leaseExpiresAt.N),
      };
    } else if (state?.S === 'completed' && fingerprint?.S !== undefined && expiresAt?.N) {
      parsed = {
        state: 'completed',
        fingerprint: fingerprint.S,
        expiresAt: Number(expiresAt.N),
        response: {
          status: Number(status?.N),
          headers: JSON.parse(headers?.S ?? '[]'),
          // Copy: some SDK versions return a Node Buffer, whose slice() shares memory.
          body: new Uint8Array(body?.B ?? new Uint8Array(0)),
        },
      };
    }
    if (parsed === undefined) {
      throw new Error(
        `dynamoDbStore: the item for key ${item.pk?.S} in table "${tableName}" is not an idem record. Give idem a table of its own.`,
      );
    }
    return observe(parsed, at);
  }

  async function get(key: string, at: number): Promise<RecordState | undefined> {
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: itemKey(key), ConsistentRead: true }),
    );
    return recordOf(Item, at);
  }

  /** One conditional write by the owner; a failed condition means the token is stale. */
  async function owned(write: (at: number) => Promise<unknown>): Promise<OwnerResult> {
    try {
      await write(now());
      return 'ok';
    } catch (error) {
      if (conditionFailed(error)) return 'stale';
      throw explain(error);
    }
  }

  const ownerValues = (token: string, at: number) => ({
    ':token': { S: token },
    ':inProgress': IN_PROGRESS,
    ':now': num(at),
  });

  return {
    tableName,
    maxResponseBytes: MAX_BODY,

    async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
      for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
        const at = now();
        const leaseExpiresAt = at + request.leaseMs;
        let old: RecordState | undefined;
        try {
          await client.send(
            new PutItemCommand({
              TableName: tableName,
              Item: {
                ...itemKey(key),
                state: IN_PROGRESS,
                fingerprint: { S: request.fingerprint },
                token: { S: request.token },
                leaseExpiresAt: num(leaseExpiresAt),
                ttl: ttlSeconds(leaseExpiresAt),
              },
              ConditionExpression: CLAIMABLE,
              ExpressionAttributeNames: namesIn(CLAIMABLE),
              ExpressionAttributeValues: { ':now': num(at), ':inProgress': IN_PROGRESS },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          );
          return { claimed: true };
        } catch (error) {
          if (!conditionFailed(error)) throw explain(error);
          const item = (error as { Item?: Record<string, AttributeValue> }).Item;
          // AWS returns the item that failed the condition (live at `at`, so
          // this is still one round trip). Endpoints that ignore
          // ReturnValuesOnConditionCheckFailure (dynalite) need a second one.
          old = item ? recordOf(item, at) : await get(key, at);
        }
        // Our own earlier attempt (an SDK retry after a lost response) won: we own it.
        if (old?.state === 'in_progress' && old.token === request.token) return { claimed: true };
        const record = old && toRecord(old);
        if (record) return { claimed: false, record };
        // The record went away between the failed write and the read: try again.
      }
      throw new Error(
        `dynamoDbStore: claim of ${key} kept losing to a record that vanished before it could be read; the key is under heavy churn. Retry the request.`,
      );
    },

    async complete(
      key: string,
      token: string,
      response: StoredResponse,
      ttlMs: number,
    ): Promise<OwnerResult> {
      const bodyBytes = response.body.byteLength;
      if (bodyBytes > MAX_BODY) throw new ResponseTooLargeError(bodyBytes, MAX_BODY);
      const headers = JSON.stringify(response.headers);
      // The item after completion, counted as DynamoDB counts it (UTF-8 names
      // and values, numbers at their maximum), checked before sending so an
      // oversized result never costs a round trip.
      const itemBytes =
        COMPLETED_FIXED_BYTES +
        encoder.encode(key).byteLength +
        encoder.encode(headers).byteLength +
        bodyBytes;
      if (itemBytes > ITEM_LIMIT) throw new ResponseTooLargeError(itemBytes, ITEM_LIMIT);
      const update =
        'SET #state = :completed, #expiresAt = :expiresAt, #ttl = :ttl, #status = :status, #headers = :headers, #body = :body REMOVE #token, #leaseExpiresAt';
      try {
        return await owned((at) => {
          const expiresAt = at + ttlMs;
          return client.send(
            new UpdateItemCommand({
              TableName: tableName,
              Key: itemKey(key),
              UpdateExpression: update,
              ConditionExpression: OWNED,
              ExpressionAttributeNames: namesIn(update, OWNED),
              ExpressionAttributeValues: {
                ...ownerValues(token, at),
                ':completed': COMPLETED,
                ':expiresAt': num(expiresAt),
                ':ttl': ttlSeconds(expiresAt),
                ':status': num(response.status),
                ':headers': { S: headers },
                ':body': { B: response.body },
              },
            }),
          );
        });
      } catch (error) {
        // The estimate above is conservative, but an outsized fingerprint could still tip it.
        const message = String((error as { message?: unknown })?.message);
        if (nameOf(error) === 'ValidationException' && /item size/i.test(message)) {
          throw new ResponseTooLargeError(itemBytes, ITEM_LIMIT);
        }
        throw error;
      }
    },

    release(key: string, token: string): Promise<OwnerResult> {
      return owned((at) =>
        client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: itemKey(key),
            ConditionExpression: OWNED,
            ExpressionAttributeNames: namesIn(OWNED),
            ExpressionAttributeValues: ownerValues(token, at),
          }),
        ),
      );
    },

    async remove(key: string): Promise<void> {
      try {
        await client.send(new DeleteItemCommand({ TableName: tableName, Key: itemKey(key) }));
      } catch (error) {
        throw explain(error);
      }
    },

    renew(key: string, token: string, leaseMs: number): Promise<OwnerResult> {
      const update = 'SET #leaseExpiresAt = :leaseExpiresAt, #ttl = :ttl';
      return owned((at) =>
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: itemKey(key),
            UpdateExpression: update,
            ConditionExpression: OWNED,
            ExpressionAttributeNames: namesIn(update, OWNED),
            ExpressionAttributeValues: {
              ...ownerValues(token, at),
              ':leaseExpiresAt': num(at + leaseMs),
              ':ttl': ttlSeconds(at + leaseMs),
            },
          }),
        ),
      );
    },

    async read(key: string): Promise<StoredRecord | undefined> {
      try {
        const state = await get(key, now());
        return state && toRecord(state);
      } catch (error) {
        throw explain(error);
      }
    },

    async createTable(): Promise<void> {
      try {
        await client.send(
          new CreateTableCommand({
            TableName: tableName,
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
      } catch (error) {
        if (nameOf(error) !== 'ResourceInUseException') throw error;
      }
      for (let polls = 0; ; polls++) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
        if (Table?.TableStatus === 'ACTIVE') break;
        if (polls >= 600) {
          throw new Error(
            `dynamoDbStore: table "${tableName}" is still ${Table?.TableStatus} after 60 s; check it in the DynamoDB console, then call createTable() again.`,
          );
        }
        await sleep(100);
      }
      try {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName: tableName,
            TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
          }),
        );
      } catch (error) {
        const message = String((error as { message?: unknown })?.message);
        const unsupported = nameOf(error) === 'UnknownOperationException';
        const alreadyOn =
          nameOf(error) === 'ValidationException' && /already enabled/i.test(message);
        if (!unsupported && !alreadyOn) throw error;
      }
    },
  };
}
