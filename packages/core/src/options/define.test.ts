import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../../test/fc.js';
import { testStore } from '../../test/store.js';
import { createEngine } from '../engine/engine.js';
import { ENGINE_OPTIONS } from '../engine/options.js';
import { createIdempotency } from '../engine/run.js';
import { ConfigurationError } from '../errors.js';
import { createHttpIdempotency } from '../http/handler.js';
import { ROUTE_OPTIONS } from '../http/route.js';
import { anyValue, misspelt, notAnObject } from './arbitraries.js';
import { checkOption, defineOptions, option, type Rule, required, show } from './define.js';
import {
  atLeastZero,
  boolean,
  checkLeaseWithinTtl,
  clock,
  nonEmptyString,
  oneOf,
  positive,
  positiveMs,
  string,
  whole,
} from './rules.js';

/** The error `call` throws; fails the test when it throws none, or another kind. */
function refusal(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigurationError, got none');
}

const store = testStore();
const HTTP_OPTIONS = [...new Set([...ENGINE_OPTIONS, ...ROUTE_OPTIONS])];
const http = createHttpIdempotency({ store, logger: false });

/** Every entry point of core that takes options: its name in errors, its names, the call. */
const ENTRIES: Array<[where: string, known: readonly string[], make: (o: unknown) => unknown]> = [
  ['idem: createIdempotency()', ENGINE_OPTIONS, (o) => createIdempotency(o as never)],
  ['idem: createIdempotency()', ENGINE_OPTIONS, (o) => createEngine(o as never)],
  ['idem: idempotency()', HTTP_OPTIONS, (o) => createHttpIdempotency(o as never)],
  ['idem: POST /x', ROUTE_OPTIONS, (o) => http.route(o as never, 'POST /x')],
];

describe('unknown option names are refused first, naming the intended one', () => {
  it.each(ENTRIES)('%s (%#)', (where, known, make) => {
    fc.assert(
      fc.property(misspelt(known), anyValue, ([intended, typed], value) => {
        // No store, nothing else valid either: the name is still what is reported.
        const message = refusal(() => make({ [typed]: value }));
        expect(message).toContain(
          `${where}: unknown option ${JSON.stringify(typed)} (did you mean ${JSON.stringify(intended)}?); the options are ${known.join(', ')}.`,
        );
      }),
      fcOptions(200),
    );
  });

  it('{ stor } is a typo of store, not a missing store', () => {
    expect(refusal(() => createIdempotency({ stor: store } as never))).toBe(
      `idem: createIdempotency(): unknown option "stor" (did you mean "store"?); the options are ${ENGINE_OPTIONS.join(', ')}.`,
    );
  });

  it('a name close to none gets the list alone', () => {
    expect(refusal(() => createIdempotency({ store, zzzzzzzz: 1 } as never))).toMatch(
      /unknown option "zzzzzzzz"; the options are store, /,
    );
  });

  it.each(ENTRIES)('%s refuses what is not an options object (%#)', (where, _known, make) => {
    fc.assert(
      fc.property(notAnObject, (value) => {
        expect(refusal(() => make(value))).toMatch(
          new RegExp(`^${where.replace(/[()]/g, '\\$&')}: pass an options object \\(\\{ `),
        );
      }),
      fcOptions(50),
    );
  });
});

/** Each shared rule, and what it must accept. */
const RULES: Array<[name: string, rule: Rule<unknown>, valid: (v: unknown) => boolean]> = [
  ['positiveMs', positiveMs, (v) => typeof v === 'number' && v > 0 && Number.isFinite(v)],
  ['positive(bytes)', positive('bytes'), (v) => typeof v === 'number' && v > 0 && v < Infinity],
  ['atLeastZero(bytes)', atLeastZero('bytes'), (v) => typeof v === 'number' && v >= 0],
  [
    'atLeastZero(seconds, finite)',
    atLeastZero('seconds', true),
    (v) => typeof v === 'number' && v >= 0 && Number.isFinite(v),
  ],
  ['whole(records, 1)', whole('records', 1), (v) => Number.isSafeInteger(v) && (v as number) >= 1],
  ['oneOf', oneOf('reject', 'wait'), (v) => v === 'reject' || v === 'wait'],
  ['clock', clock, (v) => typeof v === 'function'],
  ['boolean', boolean, (v) => v === true || v === false],
  ['string', string, (v) => typeof v === 'string'],
  ['nonEmptyString', nonEmptyString, (v) => typeof v === 'string' && v.length > 0],
];

describe('each rule has one wording, wherever it is used', () => {
  it.each(RULES)('%s', (_name, checked, valid) => {
    fc.assert(
      fc.property(
        fc.oneof(anyValue, fc.integer(), fc.constantFrom('reject', 'wait')),
        fc.constantFrom('idem: createIdempotency()', 'redisStore()', 'idemTelemetry()'),
        fc.constantFrom('leaseMs', 'cache.bytes', 'now'),
        (value, where, name) => {
          if (valid(value)) {
            expect(checkOption(where, name, checked, value)).toBe(value);
          } else {
            expect(refusal(() => checkOption(where, name, checked, value))).toBe(
              `${where}: option ${JSON.stringify(name)} must be ${checked.expects}, got ${show(value)}.`,
            );
          }
        },
      ),
      fcOptions(300),
    );
  });

  const MS = ['leaseMs', 'ttlMs', 'waitTimeoutMs', 'storeTimeoutMs'];
  it('a duration is refused in the same words by createIdempotency, idempotency() and a route', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MS),
        anyValue.filter((v) => v !== undefined && !positiveMs.test(v) && typeof v !== 'function'),
        (name, value) => {
          const tail = `option "${name}" must be ${positiveMs.expects}`;
          const engine = refusal(() => createIdempotency({ store, [name]: value } as never));
          expect(engine).toBe(`idem: createIdempotency(): ${tail}, got ${show(value)}.`);
          const mount = refusal(() => createHttpIdempotency({ store, [name]: value } as never));
          expect(mount).toContain(`idem: idempotency(): ${tail}`);
          if (name === 'ttlMs' || name === 'leaseMs') {
            expect(refusal(() => http.route({ [name]: value }, 'POST /x'))).toContain(
              `idem: POST /x: ${tail}`,
            );
          }
        },
      ),
      fcOptions(200),
    );
  });

  it('ttlMs below leaseMs: one rule, at creation, at a route and per request', async () => {
    const at = (where: string, lease: number, ttl: number) =>
      `${where}: option "ttlMs" (${ttl}) must be at least leaseMs (${lease}): a result must outlive the lease that produced it; raise ttlMs, or lower leaseMs.`;
    expect(refusal(() => checkLeaseWithinTtl('x()', 10, 9))).toBe(at('x()', 10, 9));
    expect(refusal(() => createIdempotency({ store, leaseMs: 10, ttlMs: 9 }))).toBe(
      at('idem: createIdempotency()', 10, 9),
    );
    expect(refusal(() => createHttpIdempotency({ store, leaseMs: 10, ttlMs: 9 }))).toBe(
      at('idem: idempotency()', 10, 9),
    );
    expect(refusal(() => http.route({ leaseMs: 10, ttlMs: 9 }, 'POST /x'))).toBe(
      at('idem: POST /x', 10, 9),
    );
    const engine = createIdempotency({ store: testStore() });
    await expect(
      engine.begin({ scope: '', key: 'k', fingerprint: 'f', leaseMs: 10, ttlMs: 9 }),
    ).rejects.toThrow(at("idem: this request's options", 10, 9));
    await expect(
      engine.begin({ scope: '', key: 'k', fingerprint: 'f', leaseMs: -1 }),
    ).rejects.toThrow(
      `idem: this request's options: option "leaseMs" must be ${positiveMs.expects}, got -1.`,
    );
  });
});

describe('valid options pass', () => {
  it('any valid engine options create an engine with them in force', () => {
    const ms = fc.double({ min: 1, max: 1e9, noNaN: true });
    fc.assert(
      fc.property(
        fc.record(
          {
            leaseMs: ms,
            ttlMs: ms,
            concurrent: fc.constantFrom('reject' as const, 'wait' as const),
            waitTimeoutMs: ms,
            retryAfterSeconds: fc.double({ min: 0, max: 1e6, noNaN: true }),
            failOpen: fc.boolean(),
            storeTimeoutMs: ms,
            maxResponseBytes: fc.nat(),
            breaker: fc.oneof(
              fc.constant(false as const),
              fc.record(
                { failures: fc.integer({ min: 1, max: 100 }), probeEveryMs: ms },
                {
                  requiredKeys: [],
                },
              ),
            ),
            logger: fc.constant(false as const),
          },
          { requiredKeys: [] },
        ),
        (given) => {
          const options = { store, ...given };
          if ((options.ttlMs ?? 86_400_000) < (options.leaseMs ?? 30_000)) return;
          const { options: resolved } = createIdempotency(options);
          expect(resolved.leaseMs).toBe(given.leaseMs ?? 30_000);
          expect(resolved.concurrent).toBe(given.concurrent ?? 'reject');
          expect(resolved.retryAfterSeconds).toBe(Math.ceil(given.retryAfterSeconds ?? 1));
        },
      ),
      fcOptions(200),
    );
  });
});

describe('defineOptions', () => {
  const resolve = defineOptions(
    { name: required(nonEmptyString), limit: option(whole('rows', 1), 1000), now: option(clock) },
    (o, where) => {
      if (o.limit > 5000) throw new ConfigurationError(`${where}: too many`);
    },
  );

  it('applies defaults, checks required options and runs the rules between options', () => {
    expect(resolve({ name: 'a' }, 'f()')).toEqual({ name: 'a', limit: 1000, now: undefined });
    expect(refusal(() => resolve({}, 'f()'))).toBe(
      'f(): option "name" must be a non-empty string, got undefined.',
    );
    expect(refusal(() => resolve({ name: 'a', limit: 6000 }, 'f()'))).toBe('f(): too many');
    expect(refusal(() => resolve({ name: 'a', limt: 1 }, 'f()'))).toBe(
      'f(): unknown option "limt" (did you mean "limit"?); the options are name, limit, now.',
    );
  });

  it('names nested options by their path', () => {
    expect(refusal(() => resolve({ name: 'a', limit: 0 }, 'f()', 'purge.'))).toBe(
      'f(): option "purge.limit" must be a whole number of rows, 1 or more, got 0.',
    );
    expect(refusal(() => resolve(null, 'f()', 'purge.'))).toBe(
      'f(): option "purge" must be an options object ({ purge.name, purge.limit, purge.now }), got null.',
    );
  });
});

describe('per request, through a route', () => {
  it("a route's function that returns no valid time is refused in the options' words", async () => {
    const headers = { 'idempotency-key': 'k' };
    const request = {
      method: 'POST',
      path: '/x',
      query: '',
      header: (name: string) => headers[name as keyof typeof headers] ?? null,
      body: () => new Uint8Array(),
    };
    const mount = createHttpIdempotency<unknown>({
      store: testStore(),
      logger: false,
      scope: () => 't',
    });
    for (const [value, shown] of [
      [undefined, 'undefined'],
      [0, '0'],
      ['60000', '"60000"'],
    ] as const) {
      const route = mount.route({ leaseMs: () => value as never }, 'POST /x');
      await expect(mount.handle(request, {}, undefined, route)).rejects.toThrow(
        `idem: this request's options: option "leaseMs" must be ${positiveMs.expects}, got ${shown}.`,
      );
    }
    const late = mount.route({ leaseMs: () => 90_000, ttlMs: () => 60_000 }, 'POST /x');
    await expect(mount.handle(request, {}, undefined, late)).rejects.toThrow(
      `idem: this request's options: option "ttlMs" (60000) must be at least leaseMs (90000)`,
    );
  });
});

describe('run() options', () => {
  it('refuses a misspelt name first, then a bad value, in the same words', async () => {
    const idem = createIdempotency({ store: testStore(), logger: false });
    await expect(idem.run('k', () => 1, { scop: 42 } as never)).rejects.toThrow(
      'idem: run(): unknown option "scop" (did you mean "scope"?); the options are scope, payload, shouldStore, codec, waitUntil, leaseUntil.',
    );
    await expect(idem.run('k', () => 1, { scope: 42 as never })).rejects.toThrow(
      'idem: run(): option "scope" must be a string (a queue, tenant or job name), got 42.',
    );
    await expect(idem.run('k', () => 1, { codec: JSON as never })).rejects.toThrow(
      /option "codec" must be a codec with encode\(value\) and decode\(bytes\) methods/,
    );
    expect(await idem.run('k', () => 1, { scope: 's', payload: { a: 1 } })).toEqual({
      kind: 'executed',
      value: 1,
    });
  });
});
