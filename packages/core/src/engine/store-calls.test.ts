import { afterEach, describe, expect, it, vi } from 'vitest';
import { testStore } from '../../test/store.js';
import { ConfigurationError, StoreUnavailableError } from '../errors.js';
import { createIdempotency } from './run.js';

/** A logger that keeps what it is given, stack-bearing details included. */
function capturingLogger() {
  const calls: Array<{ level: string; message: string; details: unknown[] }> = [];
  return {
    calls,
    logger: {
      warn: (message: string, ...details: unknown[]) =>
        void calls.push({ level: 'warn', message, details }),
      error: (message: string, ...details: unknown[]) =>
        void calls.push({ level: 'error', message, details }),
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('a store that is not set up', () => {
  it('logs its banner once, with the fix, and nothing per request after', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const store = testStore();
    const { calls, logger } = capturingLogger();
    // Below the breaker's threshold: every request goes to the store.
    const idem = createIdempotency({ store, logger, breaker: { failures: 100 } });
    const notSetUp = new ConfigurationError(
      'postgresStore: table "idem_records" does not exist: run `await store.migrate()` or apply schema.sql.',
      { cause: new Error('relation "idem_records" does not exist') },
    );
    store.failAlways('claim', notSetUp);
    for (let i = 0; i < 20; i++) {
      await expect(idem.run(`k${i}`, () => 1)).rejects.toThrow(StoreUnavailableError);
    }
    // Nor a summary of them a minute later.
    await vi.advanceTimersByTimeAsync(61_000);
    expect(calls.map((c) => c.message)).toEqual([
      expect.stringContaining('*** idem: the store is not set up'),
    ]);
    expect(calls[0]!.message).toMatch(/run `await store.migrate\(\)` or apply schema.sql/);
  });
});

describe('a failing store', () => {
  it('is logged with its error at once, then summed up a minute later with no details', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const store = testStore();
    const { calls, logger } = capturingLogger();
    const idem = createIdempotency({ store, logger, breaker: false });
    const down = new Error('connect ECONNREFUSED');
    store.failAlways('claim', down);
    for (let i = 0; i < 3; i++) {
      await expect(idem.run(`k${i}`, () => 1)).rejects.toThrow(StoreUnavailableError);
    }
    await vi.advanceTimersByTimeAsync(61_000);
    expect(calls[0]).toEqual({
      level: 'error',
      message: expect.stringContaining('the store failed during claim: connect ECONNREFUSED'),
      details: [down],
    });
    // Nothing of its own to show: a console would print a trailing "undefined".
    expect(calls.slice(1)).toEqual([
      {
        level: 'error',
        message: expect.stringMatching(/^idem: \d+ more store error\(s\) in the last minute\.$/),
        details: [],
      },
    ]);
  });
});
