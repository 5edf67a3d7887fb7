import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { dynamoDbStore } from '@idem/store-dynamodb';
import { memoryStore } from '@idem/store-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countCalls } from '../src/cost/dynamodb.ts';
import {
  addSamples,
  callsPerDuplicate,
  compare,
  cpuMicrosBetween,
  figures,
  itemBytes,
  parseProcStat,
  ratio,
  readUnits,
  ticksToMicros,
  writeUnits,
} from '../src/cost/metrics.ts';
import { costSection } from '../src/cost/render.ts';
import { countingStore, storm } from '../src/cost/storm.ts';
import type { CostResults, CostRow } from '../src/cost/types.ts';

/** A /proc/<pid>/stat line with the given command name, utime and stime. */
const statLine = (comm: string, utime: number, stime: number) =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1037 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 12345 1234567 890 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0`;

describe('parseProcStat', () => {
  it('reads utime and stime of this very process', () => {
    const { utime, stime } = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    expect(Number.isInteger(utime) && utime >= 0).toBe(true);
    expect(Number.isInteger(stime) && stime >= 0).toBe(true);
  });

  it('counts fields from the last parenthesis, whatever the command name holds', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 15 }), fc.nat(1e9), fc.nat(1e9), (comm, utime, stime) => {
        expect(parseProcStat(statLine(comm, utime, stime))).toEqual({ utime, stime });
      }),
    );
    expect(parseProcStat(statLine('postgres: test (idle) )x', 7, 9))).toEqual({
      utime: 7,
      stime: 9,
    });
  });

  it('refuses text that is not a stat line', () => {
    expect(() => parseProcStat('no parenthesis')).toThrow(/not a \/proc/);
    expect(() => parseProcStat('1 (x) S 1')).toThrow(/no utime/);
  });
});

describe('ticks', () => {
  it('converts clock ticks to microseconds at USER_HZ', () => {
    expect(ticksToMicros(1)).toBe(10_000);
    expect(ticksToMicros(3, 1000)).toBe(3_000);
    expect(cpuMicrosBetween({ utime: 10, stime: 5 }, { utime: 12, stime: 8 })).toBe(50_000);
  });
});

describe('medians and ratios', () => {
  const pass = (appUs: number, dbUs: number) => ({ appUs, dbUs });

  it('takes the median of app + db per pass, not the sum of the medians', () => {
    const f = figures([pass(10, 1), pass(1, 10), pass(5, 5)]);
    expect(f.appUs).toBe(5);
    expect(f.dbUs).toBe(5);
    expect(f.totalUs).toBe(11);
    const g = figures([pass(10, 0), pass(0, 10), pass(1, 1)]);
    expect(g.appUs + g.dbUs).toBe(2);
    expect(g.totalUs).toBe(10);
  });

  it('keeps units and round trips only where counted', () => {
    expect(figures([pass(1, 1)])).not.toHaveProperty('units');
    const f = figures([
      { ...pass(1, 0), units: 2, roundTrips: 2 },
      { ...pass(1, 0), units: 4, roundTrips: 2 },
    ]);
    expect(f.units).toBe(3);
    expect(f.roundTrips).toBe(2);
  });

  it('compares idem with the floor as a ratio of totals', () => {
    const c = compare([pass(10, 10), pass(20, 20), pass(30, 30)], [pass(30, 30)]);
    expect(c.floor.totalUs).toBe(40);
    expect(c.ratio).toBe(1.5);
    expect(c).not.toHaveProperty('unitsRatio');
    const u = compare([{ ...pass(1, 0), units: 1 }], [{ ...pass(1, 0), units: 2 }]);
    expect(u.unitsRatio).toBe(2);
  });

  it('gives no ratio to nothing', () => {
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(undefined, 1)).toBeNaN();
    expect(ratio(Number.NaN, 1)).toBeNaN();
    expect(ratio(3, 2)).toBe(1.5);
  });

  it('adds a request phases', () => {
    expect(addSamples([pass(1, 2), pass(3, 4)])).toEqual({ appUs: 4, dbUs: 6 });
    expect(addSamples([{ ...pass(1, 0), units: 1 }, pass(1, 0)])).toEqual({
      appUs: 2,
      dbUs: 0,
      units: 1,
    });
  });
});

describe('DynamoDB request units', () => {
  it('sizes items as DynamoDB does: names and values', () => {
    expect(itemBytes({ pk: { S: 'abc' } })).toBe(5);
    expect(itemBytes({ é: { S: 'é' } })).toBe(4);
    expect(itemBytes({ n: { N: '1999' } })).toBe(1 + 3);
    expect(itemBytes({ b: { B: new Uint8Array(10) }, t: { BOOL: true } })).toBe(11 + 2);
    expect(itemBytes({ m: { M: { a: { S: 'x' } } } })).toBe(1 + 3 + 1 + 1 + 1);
  });

  it('charges one write unit per KB started and a read unit per 4 KB', () => {
    expect(writeUnits(0)).toBe(1);
    expect(writeUnits(1024)).toBe(1);
    expect(writeUnits(1025)).toBe(2);
    expect(readUnits(100, true)).toBe(1);
    expect(readUnits(100, false)).toBe(0.5);
    expect(readUnits(4097, true)).toBe(2);
  });
});

describe('the duplicate storm', () => {
  it('takes the executor out of the calls per duplicate', () => {
    expect(callsPerDuplicate({ claim: 21, complete: 1 }, { claim: 1, complete: 1 }, 10)).toEqual({
      claim: 2,
      complete: 0,
      total: 2,
    });
  });

  it('counts the calls a store receives, and still answers through it', async () => {
    const { store, calls } = countingStore(memoryStore());
    const claim = await store.claim('k', { fingerprint: 'f', token: 't', leaseMs: 1_000 });
    expect(claim.claimed).toBe(true);
    expect(store.size).toBe(1);
    await store.read('k');
    expect(calls).toEqual({ claim: 1, read: 1 });
  });

  it('runs the handler once for a storm on the memory store', async () => {
    const result = await storm('memory', 'test', memoryStore(), {
      requests: 20,
      handlerMs: 20,
      rounds: 2,
      run: 'test',
      singleFlight: false,
    });
    expect(result.executions).toBe(1);
    expect(result.callsPerDuplicate.total).toBeGreaterThanOrEqual(0);
    expect(result.waitMaxMs).toBeGreaterThanOrEqual(result.waitMedianMs);
  });
});

describe('costSection', () => {
  const figs = (appUs: number, dbUs: number, extra = {}) => ({
    appUs,
    dbUs,
    totalUs: appUs + dbUs,
    passes: [],
    ...extra,
  });
  const row: CostRow = {
    store: 'redis',
    via: 'ioredis',
    server: 'Redis 7.0.15',
    dbCpu: 'commandstats',
    floor: 'SET NX + SET; GET',
    first: { floor: figs(80, 5), idem: figs(150, 11), ratio: 161 / 85 },
    replay: { floor: figs(27, 1), idem: figs(66, 1.3), ratio: 67.3 / 28 },
    commands: {
      first: { floor: 'SET 3.90 + SET 4.00', idem: 'SET 4.80 + EVALSHA 18.10' },
      replay: { floor: 'GET 1.60', idem: 'SET 1.50' },
    },
    target: { what: "Redis CPU of idem's first request", limitUs: 6, measuredUs: 11 },
  };
  const results: CostResults = {
    date: '2026-12-07T00:00:00.000Z',
    keys: 4000,
    concurrency: 16,
    poolSize: 8,
    passes: 5,
    host: '2 × test',
    rows: [
      row,
      {
        ...row,
        store: 'dynamodb',
        via: 'sdk',
        dbCpu: '',
        first: {
          floor: figs(1600, 0, { units: 2, roundTrips: 2 }),
          idem: figs(2000, 0, { units: 2, roundTrips: 2 }),
          ratio: 1.25,
          unitsRatio: 1,
        },
      },
    ],
    writeProofs: [
      {
        store: 'postgres',
        replays: 10_000,
        firstRequests: 2_000,
        replayDeltas: { n_tup_upd: 0 },
        firstDeltas: { n_tup_upd: 2_000 },
        idleDeltas: { n_tup_upd: 0 },
        note: 'server-wide WAL',
      },
    ],
    storms: [
      {
        store: 'memory',
        via: 'm',
        singleFlight: false,
        requests: 200,
        handlerMs: 50,
        rounds: 3,
        executions: 1,
        callsPerDuplicate: { claim: 3, total: 3 },
        waitMedianMs: 85,
        waitMaxMs: 101.6,
        lagMedianMs: 25.5,
        lagMaxMs: 42,
      },
    ],
    skipped: [{ store: 'mysql', reason: 'ECONNREFUSED' }],
  };

  it('renders every row, proof, storm and skip', () => {
    const md = costSection(results);
    expect(md).toContain(
      '| redis | ioredis | first request | 80.0 + 5.0 = 85.0 | 150.0 + 11.0 = 161.0 | **1.89×** |',
    );
    expect(md).toContain(
      '| dynamodb | sdk | first request | 1,600.0 | 2,000.0 | **1.25×** | 2.00 RU, 2.00 trips → 2.00 RU, 2.00 trips (1.00×) |',
    );
    expect(md).toContain(
      '- **redis commands** (ioredis; µs per call): first request: floor SET 3.90 + SET 4.00, idem SET 4.80 + EVALSHA 18.10; replay: floor GET 1.60, idem SET 1.50.',
    );
    expect(md).toContain('11.00 µs against ≤ 6 µs (floor 5.00 µs): **not met**');
    expect(md).toContain('| postgres | n_tup_upd | 2,000 (2,000 keys) | 0 (10,000 replays) | 0 |');
    expect(md).toContain(
      '| memory | m | off | 1 | 3.00 (claim 3.00) | 85.0 / 101.6 | 25.5 / 42.0 |',
    );
    expect(md).toContain('**mysql not measured**: ECONNREFUSED');
    // Every table row has as many cells as its header.
    for (const table of md.split('\n\n').filter((b) => b.startsWith('|'))) {
      const lines = table.split('\n').filter((l) => l.startsWith('|'));
      const cells = (l: string) => l.split('|').length;
      for (const l of lines) expect(cells(l)).toBe(cells(lines[0]!));
    }
  });

  it('leaves out what was not measured', () => {
    const md = costSection({ ...results, rows: [], writeProofs: [], storms: [], skipped: [] });
    expect(md).not.toContain('|');
  });
});

describe('countCalls on dynalite', () => {
  it('counts round trips and request units, a failed condition included', async () => {
    const require = createRequire(import.meta.url);
    const dynalite = require('dynalite') as (o: { createTableMs: number }) => Server;
    const server = dynalite({ createTableMs: 0 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    try {
      await dynamoDbStore({ client, tableName: 'count' }).createTable();
      const counter = countCalls(client);
      const put = () =>
        client.send(
          new PutItemCommand({
            TableName: 'count',
            Item: { pk: { S: 'k' }, v: { S: 'x'.repeat(1500) } },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      await put();
      expect(counter).toMatchObject({ roundTrips: 1, units: 2 });
      await expect(put()).rejects.toThrow(/conditional/i);
      expect(counter).toMatchObject({ roundTrips: 2, units: 4 });
      await client.send(
        new GetItemCommand({ TableName: 'count', Key: { pk: { S: 'k' } }, ConsistentRead: true }),
      );
      expect(counter.roundTrips).toBe(3);
      expect(counter.units).toBe(5);
      expect(counter.byAction).toEqual({
        PutItem: { calls: 2, units: 4 },
        GetItem: { calls: 1, units: 1 },
      });
    } finally {
      client.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
