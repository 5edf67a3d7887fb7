/**
 * The Lambda storm and store counter against the local Redis, with both
 * libraries for real: what the section reports is what they do.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteRunKeys } from '../src/housekeeping.ts';
import { PaymentsApp } from '../src/lambda/app.ts';
import { countDelta } from '../src/lambda/counters.ts';
import { lambdaContext, paymentEvent } from '../src/lambda/events.ts';
import { idemSide, type LibrarySide, powertoolsSide } from '../src/lambda/libraries.ts';
import { runLambdaStorm } from '../src/lambda/storm.ts';
import { watchPorts } from '../src/wire.ts';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = `test${Date.now().toString(36)}`;
process.env.AWS_LAMBDA_FUNCTION_NAME ??= 'bench-payments';

async function reachable(): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch (error) {
    const message = `Redis is not reachable at ${url} (${(error as Error).message})`;
    if (process.env.CI === 'true') throw new Error(`${message} and CI=true: start Redis.`);
    console.warn(
      `\n${'!'.repeat(78)}\n!! SKIPPING the Lambda storm tests: ${message}\n${'!'.repeat(78)}\n`,
    );
    return false;
  } finally {
    probe.disconnect();
  }
}

const up = await reachable();
// Before the libraries' clients connect: the counter wraps the sockets they open.
watchPorts(new Map([[Number(new URL(url).port || 6379), 'resp']]));

describe.skipIf(!up)('the Lambda storm on Redis', () => {
  const servers = { run, redisUrl: url, dynamoEndpoint: '' };
  let idem: LibrarySide;
  let powertools: LibrarySide;
  beforeAll(async () => {
    idem = await idemSide('redis', servers);
    powertools = await powertoolsSide('redis', servers);
  });
  afterAll(async () => {
    await idem?.close();
    await powertools?.close();
    const admin = new Redis(url);
    await deleteRunKeys(admin, run);
    await admin.quit();
  });
  const options = (name: string) => ({
    keys: 3,
    duplicates: 4,
    delayMs: 300,
    keyPrefix: `${run}-${name}`,
  });

  it('idem runs each key once and answers the duplicates 409 with Retry-After', async () => {
    const result = await runLambdaStorm(idem, 'http', options('idem-http'));
    expect(result.exactlyOnce).toBe(true);
    expect(result.executions).toBe(3);
    expect(result.invocations).toBe(12);
    expect(result.answers).toEqual({ '201': 3, '409 + Retry-After': 9 });
    expect(result.store.requests).toBeGreaterThanOrEqual(12);
  });

  it('and the same under Middy, through its middleware', async () => {
    const result = await runLambdaStorm(idem, 'middy', options('idem-middy'));
    expect(result.exactlyOnce).toBe(true);
    expect(result.answers).toEqual({ '201': 3, '409 + Retry-After': 9 });
  });

  it('and with the duplicates spread over the first run: 409 while in flight, then its result', async () => {
    const result = await runLambdaStorm(idem, 'http', { ...options('idem-spread'), spread: true });
    expect(result.exactlyOnce).toBe(true);
    expect(Object.keys(result.answers).sort()).toEqual(
      expect.arrayContaining(['201', '409 + Retry-After']),
    );
    expect(Object.keys(result.answers).every((a) => a === '201' || a === '409 + Retry-After')).toBe(
      true,
    );
    expect(result.spread).toBe(true);
  });

  it("with concurrent: 'wait', idem gives every duplicate the first one's result", async () => {
    const result = await runLambdaStorm(idem, 'function', options('idem-wait'), 'wait');
    expect(result.exactlyOnce).toBe(true);
    expect(result.answers).toEqual({ result: 12 });
  });

  it('Powertools runs each key once and throws IdempotencyAlreadyInProgressError at the duplicates', async () => {
    const result = await runLambdaStorm(powertools, 'http', options('powertools-http'));
    expect(result.exactlyOnce).toBe(true);
    expect(result.answers).toEqual({ '201': 3, 'throws IdempotencyAlreadyInProgressError': 9 });
    expect(result.store.ops.SET).toBeGreaterThanOrEqual(12);
  });

  it("counts each library's own Redis commands, first call and replay", async () => {
    for (const side of [idem, powertools]) {
      const handler = side.instance(new PaymentsApp()).function;
      const key = `${run}-count-${side.library}`;
      const before = side.counter!.read();
      const first = await handler(paymentEvent(key), lambdaContext());
      const between = side.counter!.read();
      const again = await handler(paymentEvent(key), lambdaContext());
      const after = side.counter!.read();
      expect(again).toEqual(first);
      const claimAndComplete = countDelta(before, between).requests;
      const replay = countDelta(between, after).requests;
      expect(claimAndComplete).toBeGreaterThanOrEqual(2);
      expect(replay).toBeGreaterThanOrEqual(1);
      expect(replay).toBeLessThan(claimAndComplete + 1);
    }
  });
});
