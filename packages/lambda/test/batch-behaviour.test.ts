import { type Claim, createIdempotency, type Store } from '@idem/core';
import { reachableStores } from '@idem/test-stores';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotentBatch } from '../src/index.js';
import { lambdaContext, SOURCES, specs } from './batch/events.js';
import { failuresOf, Ledger } from './batch/ledger.js';

// What one source's scenario does not show: the lease cut at the
// invocation's deadline, concurrency, keys from the body, fan-out scopes,
// results that cannot be stored, and the claim handed to a transactional store.
const stores = await reachableStores({ label: 'lambda_batch_b', only: ['redis', 'postgres'] });
afterAll(() => stores.close());

const [sqs, fifo, kinesis, dynamodb] = SOURCES as [
  (typeof SOURCES)[0],
  (typeof SOURCES)[0],
  (typeof SOURCES)[0],
  (typeof SOURCES)[0],
];
const redis = stores.stores.redis;
const onRedis = redis ? it : it.skip;
const engine = async (store?: Store) =>
  createIdempotency({ store: store ?? (await redis!()), logger: false });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('the lease follows the invocation', () => {
  onRedis(
    'a record cut off by the timeout is taken over after the deadline plus leaseMarginMs, not a lease later',
    async () => {
      const store = await redis!();
      const ledger = new Ledger(sqs);
      const never = new Promise<void>(() => {});
      // leaseMs is 30 s: without the cap, the next delivery would wait that long.
      const timedOut = idempotentBatch(ledger.handler(never), {
        idem: createIdempotency({ store, leaseMs: 30_000, logger: false }),
        leaseMarginMs: 200,
      });
      const next = idempotentBatch(ledger.handler(), { idem: await engine(store) });
      const event = sqs.event(specs('lease', 1));
      void timedOut(event, lambdaContext('batch-test', 300));
      while (ledger.inFlight === 0) await sleep(2);
      expect(await next(event, lambdaContext())).toEqual({
        batchItemFailures: failuresOf(sqs, event.Records),
      });
      const deadline = Date.now() + 300;
      await sleep(300 + 200 + 150);
      const started = Date.now();
      expect(await next(event, lambdaContext())).toEqual({ batchItemFailures: [] });
      expect(ledger.effectsOf(event.Records)).toEqual([1]);
      expect(started - deadline).toBeLessThan(2_000);
    },
  );
});

describe('concurrency', () => {
  onRedis(
    'a standard queue runs up to `concurrency` records at once; ordered sources one at a time',
    async () => {
      for (const [source, concurrency, expected] of [
        [sqs, undefined, 10],
        [sqs, 3, 3],
        [fifo, 10, 1],
        [kinesis, 10, 1],
        [dynamodb, 10, 1],
      ] as const) {
        const ledger = new Ledger(source);
        const handler = idempotentBatch(
          async (record) => {
            const result = await ledger.handler(sleep(10))(record);
            return result;
          },
          { idem: await engine(), ...(concurrency && { concurrency }) },
        );
        expect(await handler(source.event(specs('conc', 12)), lambdaContext())).toEqual({
          batchItemFailures: [],
        });
        expect([source.name, ledger.maxInFlight]).toEqual([source.name, expected]);
      }
    },
  );

  onRedis('copies of one message in a batch run once and are not reported', async () => {
    const ledger = new Ledger(sqs);
    const handler = idempotentBatch(ledger.handler(), { idem: await engine() });
    const [a, b] = specs('copies', 2);
    const event = sqs.event([a!, b!, a!, a!]);
    expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });
    expect(ledger.callsOf(event.Records)).toEqual([1, 1, 1, 1]); // by identifier: a ran once
  });

  onRedis('a failing copy is reported once', async () => {
    const ledger = new Ledger(sqs);
    const handler = idempotentBatch(ledger.handler(), { idem: await engine() });
    const [a, b] = specs('copies-failing', 2);
    const event = sqs.event([a!, b!, a!]);
    ledger.failing.add(a!.id);
    expect(await handler(event, lambdaContext())).toEqual({
      batchItemFailures: [{ itemIdentifier: a!.id }],
    });
  });
});

describe('keys and scopes', () => {
  onRedis(
    'a JSON Pointer reads the key from the body, data or change of every source',
    async () => {
      for (const source of SOURCES) {
        const ledger = new Ledger(source);
        const key = source.name === 'dynamodb' ? '/NewImage/Message/S' : '/orderId';
        const handler = idempotentBatch(ledger.handler(), { idem: await engine(), key });
        const body = (order: string) =>
          source.name === 'dynamodb' ? order : JSON.stringify({ orderId: order });
        const order = `order-${Math.random()}`;
        // Two deliveries of one order under two record ids: the second replays.
        const [first, second] = specs('pointer', 2, () => body(order));
        await handler(source.event([first!]), lambdaContext());
        expect(await handler(source.event([second!]), lambdaContext())).toEqual({
          batchItemFailures: [],
        });
        expect([...ledger.effects.values()]).toEqual([1]);
      }
    },
  );

  onRedis('a record whose key is missing is reported and logged, never run', async () => {
    const warnings: string[] = [];
    const ledger = new Ledger(sqs);
    const handler = idempotentBatch(ledger.handler(), {
      idem: createIdempotency({
        store: await redis!(),
        logger: { warn: (message: string) => void warnings.push(message) },
      }),
      key: '/orderId',
    });
    const event = sqs.event(specs('nokey', 3, (i) => (i === 1 ? 'not json' : `{"n":${i}}`)));
    expect(await handler(event, lambdaContext())).toEqual({
      batchItemFailures: failuresOf(sqs, event.Records),
    });
    expect(ledger.callsOf(event.Records)).toEqual([0, 0, 0]);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(
      /has no usable key: the JSON Pointer "\/orderId" found no idempotency key/,
    );
    expect(warnings[1]).toMatch(/body that is not JSON/);
  });

  onRedis(
    'a scope function returning what run() refuses reports the record and logs the fix',
    async () => {
      const warnings: string[] = [];
      const ledger = new Ledger(sqs);
      const handler = idempotentBatch(ledger.handler(), {
        idem: createIdempotency({
          store: await redis!(),
          logger: { warn: (message: string) => void warnings.push(message) },
        }),
        scope: () => 42 as unknown as string,
      });
      const event = sqs.event(specs('badscope', 1));
      expect(await handler(event, lambdaContext())).toEqual({
        batchItemFailures: failuresOf(sqs, event.Records),
      });
      expect(ledger.callsOf(event.Records)).toEqual([0]);
      expect(warnings).toEqual([
        expect.stringMatching(/could not run: .*option "scope" must be a string/),
      ]);
    },
  );

  onRedis(
    'every function reading a stream runs each record; functions sharing a queue do not',
    async () => {
      const store = await redis!();
      for (const [source, runs] of [
        [kinesis, 2],
        [dynamodb, 2],
        [sqs, 1],
      ] as const) {
        const ledger = new Ledger(source);
        const event = source.event(specs('fanout', 2));
        for (const name of ['audit', 'billing']) {
          const handler = idempotentBatch(ledger.handler(), { idem: await engine(store) });
          await handler(event, lambdaContext(name));
        }
        expect([source.name, ledger.effectsOf(event.Records)]).toEqual([source.name, [runs, runs]]);
      }
    },
  );
});

describe('results', () => {
  onRedis(
    'a record that ran but whose result cannot be stored is acknowledged, logged, and never runs again',
    async () => {
      const warnings: string[] = [];
      let runs = 0;
      const handler = idempotentBatch(
        async () => {
          runs++;
          return 10n; // JSON cannot encode a BigInt
        },
        {
          idem: createIdempotency({
            store: await redis!(),
            logger: { warn: (message: string) => void warnings.push(message) },
          }),
        },
      );
      const event = sqs.event(specs('bigint', 1));
      expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });
      expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });
      expect(runs).toBe(1);
      expect(warnings.some((w) => /could not be stored.*acknowledged/.test(w))).toBe(true);
    },
  );

  onRedis('a codec stores and replays what the handler returns', async () => {
    const seen: string[] = [];
    const handler = idempotentBatch(async (record: SQSRecord) => record.body.length, {
      idem: await engine(),
      codec: {
        encode: (value: number) => {
          seen.push(`encode ${value}`);
          return new TextEncoder().encode(String(value));
        },
        decode: (bytes) => {
          seen.push('decode');
          return Number(new TextDecoder().decode(bytes));
        },
      },
    });
    const event = sqs.event(specs('codec', 1, () => 'abcd')) as { Records: SQSRecord[] };
    await handler(event, lambdaContext());
    await handler(event, lambdaContext());
    expect(seen).toEqual(['encode 4', 'decode']);
  });
});

describe('the claim', () => {
  const postgres = stores.stores.postgres;
  (postgres ? it : it.skip)(
    "commits a record's writes with its idem record on PostgreSQL, and rolls a failed record's back",
    async () => {
      const store = (await postgres!()) as Store & {
        transaction(
          claim: Claim,
        ): Promise<{ query(sql: string, values?: unknown[]): Promise<{ rows: { id: string }[] }> }>;
      };
      const idem = createIdempotency({ store, logger: false });
      const table = `lambda_batch_tx_${Math.random().toString(36).slice(2, 8)}`;
      const sql = async (text: string) =>
        (
          await idem.run(`${table}:${text}`, async (claim) =>
            (await (await store.transaction(claim)).query(text)).rows.map((r) => r.id),
          )
        ).value;
      await sql(`CREATE TABLE ${table} (id text PRIMARY KEY)`);
      try {
        const claims: Claim[] = [];
        const handler = idempotentBatch(
          async (record: SQSRecord, _context, claim) => {
            claims.push(claim);
            const tx = await store.transaction(claim);
            await tx.query(`INSERT INTO ${table} (id) VALUES ($1)`, [record.messageId]);
            if (record.body === 'fail') throw new Error('after the write');
            return null;
          },
          { idem },
        );
        const event = sqs.event(specs('tx', 3, (i) => (i === 1 ? 'fail' : 'ok'))) as {
          Records: SQSRecord[];
        };
        expect(await handler(event, lambdaContext())).toEqual({
          batchItemFailures: [{ itemIdentifier: event.Records[1]!.messageId }],
        });
        expect(claims.every((c) => c.protected && c.token !== '')).toBe(true);
        expect((await sql(`SELECT id FROM ${table} ORDER BY id`))!.sort()).toEqual(
          [event.Records[0]!.messageId, event.Records[2]!.messageId].sort(),
        );
      } finally {
        await sql(`DROP TABLE ${table}`);
      }
    },
  );
});
