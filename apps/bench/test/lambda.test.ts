import { describe, expect, it } from 'vitest';
import { httpApiEvent, lambdaContext, paymentEvent } from '../src/lambda/events.ts';
import {
  bareRateByPass,
  lambdaPassOrder,
  lambdaUnitId,
  mergeByPass,
  planLambdaUnits,
  runWindow,
  summarizeLambda,
} from '../src/lambda/measure.ts';
import {
  lambdaComparisons,
  lambdaProblems,
  lambdaSection,
  lambdaVerdicts,
} from '../src/lambda/render.ts';
import { answerOf, arrivalMs, requestsPerDuplicate } from '../src/lambda/storm.ts';
import type { LambdaResults, LambdaRow, LambdaSample, LambdaUnit } from '../src/lambda/types.ts';
import { seededRandom } from '../src/stats.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Lambda events and context', () => {
  it('an HTTP API 2.0 event as API Gateway sends it, a fresh request id each time', () => {
    const a = httpApiEvent('k1');
    const b = httpApiEvent('k1', 50);
    expect(a.version).toBe('2.0');
    expect(a.routeKey).toBe('POST /payments');
    expect(a.requestContext.http.method).toBe('POST');
    expect(a.headers['idempotency-key']).toBe('k1');
    expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.body!));
    expect(JSON.parse(b.body!)).toMatchObject({ amount: 1999, delayMs: 50 });
    expect(a.requestContext.requestId).not.toBe(b.requestContext.requestId);
    expect(Object.keys(a.headers).every((h) => h === h.toLowerCase())).toBe(true);
  });

  it('a payload carries its key, and the delay only in the storm', () => {
    expect(paymentEvent('p1')).toEqual({
      paymentId: 'p1',
      amount: 1999,
      currency: 'eur',
      description: 'bench',
    });
    expect(paymentEvent('p1', 20).delayMs).toBe(20);
  });

  it('the context counts down from the timeout and never goes below 0', async () => {
    const context = lambdaContext(100);
    const first = context.getRemainingTimeInMillis();
    expect(first).toBeLessThanOrEqual(100);
    expect(first).toBeGreaterThan(50);
    await sleep(30);
    expect(context.getRemainingTimeInMillis()).toBeLessThan(first);
    expect(lambdaContext(0).getRemainingTimeInMillis()).toBe(0);
    expect(lambdaContext().awsRequestId).not.toBe(lambdaContext().awsRequestId);
  });
});

describe('the plan of a pass', () => {
  const units = planLambdaUnits(
    ['http', 'function'],
    ['dynamodb', 'redis'],
    ['bare', 'idem', 'powertools'],
  );

  it('per entry: the bare handler, then every store × library', () => {
    expect(units.map(lambdaUnitId)).toEqual([
      'http/none/bare',
      'http/dynamodb/idem',
      'http/dynamodb/powertools',
      'http/redis/idem',
      'http/redis/powertools',
      'function/none/bare',
      'function/dynamodb/idem',
      'function/dynamodb/powertools',
      'function/redis/idem',
      'function/redis/powertools',
    ]);
  });

  it('shuffles stores and libraries with the seed, keeps a store together, leaves bare out', () => {
    const http = units.filter((u) => u.entry === 'http');
    const orders = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const order = lambdaPassOrder(http, seededRandom(seed));
      expect(order.map(lambdaUnitId).sort()).toEqual(
        http
          .filter((u) => u.library !== 'bare')
          .map(lambdaUnitId)
          .sort(),
      );
      const stores = order.map((u) => u.store);
      // Together: the store changes once.
      expect(stores.filter((s, i) => i > 0 && s !== stores[i - 1]).length).toBe(1);
      expect(lambdaPassOrder(http, seededRandom(seed))).toEqual(order);
      orders.add(order.map(lambdaUnitId).join());
    }
    expect(orders.size).toBe(8); // 2 store orders × 2 × 2 library orders
  });
});

describe('a window of invocations', () => {
  it('runs a count, with failures for a wrong answer and for a throw', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    const result = await runWindow(
      async (i) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await sleep(1);
        inFlight--;
        seen.push(i);
        if (i === 3) throw new Error('boom');
        return i !== 5;
      },
      { invocations: 12 },
      3,
    );
    expect(result.invocations).toBe(12);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect(most).toBe(3);
    expect(result.failures).toBe(2);
    expect(result.firstFailure).toBeDefined();
    expect(result.cpuMicros).toBeGreaterThan(0);
  });

  it('or runs for a time', async () => {
    const result = await runWindow(
      async () => {
        await sleep(5);
        return true;
      },
      { seconds: 0.1 },
      1,
    );
    expect(result.seconds).toBeGreaterThanOrEqual(0.1);
    expect(result.seconds).toBeLessThan(0.5);
    expect(result.invocations).toBeGreaterThan(3);
    expect(result.failures).toBe(0);
  });
});

const sample = (pass: number, invocations: number, over: Partial<LambdaSample> = {}) => ({
  pass,
  invocations,
  seconds: 1,
  cpuMicros: invocations * 100,
  executions: invocations,
  failures: 0,
  store: { requests: invocations * 2, ops: { PutItem: invocations, UpdateItem: invocations } },
  ...over,
});

describe('a row from its windows', () => {
  const unit: LambdaUnit = { entry: 'http', store: 'dynamodb', library: 'idem' };

  it('per invocation, and per pass against the bare handler of the same pass', () => {
    const bare = bareRateByPass([
      sample(0, 1000),
      sample(0, 3000),
      sample(1, 2000),
      sample(1, 2000),
    ]);
    expect([...bare]).toEqual([
      [0, 2000],
      [1, 2000],
    ]);
    const row = summarizeLambda(unit, 'first', [sample(0, 100), sample(1, 300)], bare);
    expect(row.passRps).toEqual([100, 300]);
    expect(row.passRatios).toEqual([0.05, 0.15]);
    expect(row.ratio).toBeCloseTo(0.1);
    expect(row.rps).toBe(200);
    expect(row.passCpuMicrosPerRequest).toEqual([100, 100]);
    expect(row.storeRequestsPerInvocation).toBe(2);
    expect(row.storeOpsPerInvocation).toEqual({ PutItem: 1, UpdateItem: 1 });
    expect(row.executionsPerInvocation).toBe(1);
    expect(row.invocations).toBe(400);
  });

  it("merges the bare handler's two runs of a pass into one", () => {
    const merged = mergeByPass([sample(0, 10), sample(0, 30), sample(1, 5)]);
    expect(merged.map((s) => [s.pass, s.invocations, s.seconds])).toEqual([
      [0, 40, 2],
      [1, 5, 1],
    ]);
    expect(merged[0]!.store.requests).toBe(80);
  });
});

describe('the storm', () => {
  it('names what each invocation answered', () => {
    const fulfilled = (value: unknown) => ({ status: 'fulfilled' as const, value });
    expect(answerOf('http', fulfilled({ statusCode: 201, body: '{}' }))).toBe('201');
    expect(answerOf('http', fulfilled({ statusCode: 409, headers: { 'Retry-After': '1' } }))).toBe(
      '409 + Retry-After',
    );
    expect(answerOf('function', fulfilled({ id: 'x' }))).toBe('result');
    class IdempotencyAlreadyInProgressError extends Error {
      override name = 'IdempotencyAlreadyInProgressError';
    }
    expect(
      answerOf('http', { status: 'rejected', reason: new IdempotencyAlreadyInProgressError() }),
    ).toBe('throws IdempotencyAlreadyInProgressError');
    expect(answerOf('function', { status: 'rejected', reason: 'text' })).toBe('throws a non-Error');
  });

  it('sends duplicates at once, or spread evenly over the handler run', () => {
    const at = { delayMs: 500, duplicates: 10 };
    expect([0, 1, 9].map((d) => arrivalMs(d, at))).toEqual([0, 0, 0]);
    expect([0, 1, 9].map((d) => arrivalMs(d, { ...at, spread: true }))).toEqual([0, 50, 450]);
  });

  it('counts store requests per duplicate beyond the first calls', () => {
    // 5 keys × 4 invocations; first calls take 2 each; 15 duplicates made 15 more.
    expect(requestsPerDuplicate(25, 5, 4, 2)).toBe(1);
    expect(requestsPerDuplicate(10, 5, 1, 2)).toBeNaN();
  });
});

function row(
  unit: LambdaUnit,
  phase: 'first' | 'replay',
  passRps: number[],
  over: Partial<LambdaRow> = {},
): LambdaRow {
  return {
    unit,
    phase,
    rps: passRps[0]!,
    ratio: 0.1,
    passes: passRps.map((_, i) => i),
    passRps,
    passRatios: passRps.map(() => 0.1),
    passCpuMicrosPerRequest: passRps.map((r) => 1e6 / r),
    cpuMicrosPerInvocation: 1e6 / passRps[0]!,
    storeRequestsPerInvocation: phase === 'first' ? 2 : 1,
    storeOpsPerInvocation: phase === 'first' ? { PutItem: 1, UpdateItem: 1 } : { PutItem: 1 },
    executionsPerInvocation: phase === 'first' ? 1 : 0,
    invocations: 100,
    failures: 0,
    ...over,
  };
}

function results(over: Partial<LambdaResults> = {}): LambdaResults {
  const idem: LambdaUnit = { entry: 'http', store: 'dynamodb', library: 'idem' };
  const powertools: LambdaUnit = { ...idem, library: 'powertools' };
  return {
    version: 1,
    date: '2026-12-08T01:00:00.000Z',
    commit: 'abc1234',
    run: 'r1',
    durationSeconds: 200,
    settings: {
      quick: false,
      passes: 3,
      seconds: 1,
      invocations: 20,
      warmupSeconds: 1,
      concurrency: 1,
      storm: { keys: 20, duplicates: 10, delayMs: 50 },
      orderSeed: 7,
      confidence: 0.95,
    },
    machine: { cpu: 'x', cores: 2, node: 'v20.20.0', redis: '7.2.4', dynamodb: 'dynalite 4.0.0' },
    versions: { '@aws-lambda-powertools/idempotency': '2.35.0' },
    libraries: ['bare', 'idem', 'powertools'],
    rows: [
      row({ entry: 'http', store: 'none', library: 'bare' }, 'first', [5000, 5000, 5000]),
      row(idem, 'first', [200, 210, 190]),
      row(idem, 'replay', [400, 420, 380]),
      row(powertools, 'first', [100, 105, 95]),
      row(powertools, 'replay', [400, 300, 500], {
        storeRequestsPerInvocation: 2,
        storeOpsPerInvocation: { PutItem: 1, GetItem: 1 },
      }),
    ],
    storms: [
      {
        unit: idem,
        concurrent: 'reject',
        keys: 20,
        duplicates: 10,
        delayMs: 50,
        invocations: 200,
        executions: 20,
        keysMoreThanOnce: 0,
        keysNever: 0,
        maxPerKey: 1,
        exactlyOnce: true,
        answers: { '409 + Retry-After': 180, '201': 20 },
        store: { requests: 220, ops: { PutItem: 200, UpdateItem: 20 } },
        storeRequestsPerDuplicate: 1,
        seconds: 0.3,
      },
    ],
    failures: [],
    skipped: [],
    ...over,
  };
}

describe('the Lambda section', () => {
  it('pairs idem with Powertools per entry, store and phase, pass by pass', () => {
    const cases = lambdaComparisons(results());
    expect(cases.map((c) => `${c.entry}/${c.store}/${c.phase}`)).toEqual([
      'http/dynamodb/first',
      'http/dynamodb/replay',
    ]);
    // Twice as fast in every pass: ahead; replays that swing both ways: a tie.
    expect(cases[0]!.comparison.rps.estimate).toBeCloseTo(2);
    expect(cases[0]!.comparison.standing).toBe('ahead');
    expect(cases[1]!.comparison.rps.standing).toBe('tie');
  });

  it('judges the DynamoDB request counts and the storms, preferring the counts as on AWS', () => {
    const plain = lambdaVerdicts(results());
    expect(plain.map((v) => [v.target, v.met])).toEqual([
      ['Lambda on DynamoDB: one conditional write per claim and one per completion', true],
      ['Lambda on DynamoDB: a replay served by one request', true],
      ['exactly once in the Lambda retry storm', true],
    ]);
    const idem: LambdaUnit = { entry: 'http', store: 'dynamodb', library: 'idem' };
    const asOnAws = lambdaVerdicts(
      results({
        conflictsWithItemRows: [
          row(idem, 'first', [50]),
          row(idem, 'replay', [50], { storeRequestsPerInvocation: 2 }),
        ],
      }),
    );
    expect(asOnAws[1]!.met).toBe(false);
    expect(asOnAws[1]!.figure).toContain('2.000 requests per invocation');
    expect(lambdaVerdicts(undefined)).toEqual([]);
  });

  it('fails a run on failures and broken guarantees of idem, not on speed', () => {
    expect(lambdaProblems(results())).toEqual([]);
    const idem: LambdaUnit = { entry: 'function', store: 'redis', library: 'idem' };
    const broken = results({
      rows: [
        row(idem, 'replay', [100], { executionsPerInvocation: 0.5 }),
        row(idem, 'first', [100], { failures: 2, firstFailure: 'boom' }),
      ],
      storms: [{ ...results().storms[0]!, exactlyOnce: false, executions: 25 }],
      failures: [{ unit: 'powertools on redis', error: 'refused\nstack' }],
    });
    expect(lambdaProblems(broken)).toEqual([
      'powertools on redis: refused',
      'function/redis/idem replay: the handler ran during replays',
      'function/redis/idem first: 2 failures (boom)',
      'storm http/dynamodb/idem (reject): 25 executions for 20 keys',
    ]);
    expect(lambdaProblems(results({ rows: [], storms: [] }))).toEqual(['no @idem/lambda row ran']);
  });

  it('renders the tables of the section', () => {
    const md = lambdaSection(results());
    expect(md).toContain('### Invocations per second and store requests');
    expect(md).toContain(
      '| HTTP API (2.0) handler | DynamoDB (dynalite) | @idem/lambda | 200 (0.10 ×) | 400 (0.10 ×) |',
    );
    expect(md).toContain('2.00 (PutItem + UpdateItem); 1.00 (PutItem)');
    expect(md).toContain('| HTTP API (2.0) handler | DynamoDB (dynalite) | first call | 2.00 [');
    expect(md).toContain(
      '| at once | 20 for 20 | 180 × 409 + Retry-After, 20 × 201 | 1.10; 1.00 | PutItem + 0.10 × UpdateItem |',
    );
    const spread = lambdaSection(
      results({
        storms: [
          { ...results().storms[0]!, spread: true, exactlyOnce: false, keysMoreThanOnce: 3 },
        ],
      }),
    );
    expect(spread).toContain(
      '| spread over 50 ms | 20 for 20 (**3 keys more than once, 0 never**) |',
    );
    expect(md).toContain('Not counted in this run.');
    expect(md).not.toContain('Failures in this run');
  });
});
