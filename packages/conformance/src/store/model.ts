import {
  ABSENT,
  type LifecycleEvent,
  observe,
  type RecordState,
  type StoredResponse,
  toRecord,
  transition,
} from '@idem/core/store';
import fc from 'fast-check';
import { fcParameters } from '../fc.js';
import { storedResponse } from './arbitraries.js';
import { type CoverageCommand, CoverageTally, type LifecycleCoverage } from './coverage.js';
import { check, checkClaim, checkRecord, type Harness } from './harness.js';

/**
 * Model-based test: random sequences of claim / complete / release / renew /
 * read (and, with a fake clock, clock advances) run against the store and
 * against the reference lifecycle in `@idem/core` (`transition`), and every
 * result must agree.
 */

// Few keys, so commands keep meeting the same records.
const KEYS = 2;
const FINGERPRINTS = ['fp-a', 'fp-b'] as const;

interface Model {
  now: number;
  readonly records: RecordState[];
  /** Tokens issued per key, oldest first; commands pick among them at run time. */
  readonly tokens: string[][];
}

interface Real {
  readonly h: Harness;
  readonly keys: readonly string[];
  readonly coverage: CoverageTally;
}

type Cmd = fc.AsyncCommand<Model, Real>;

/** Picks an issued token (possibly stale), or a token no claim ever minted. */
type TokenPick = number | 'unknown';

function pickToken(m: Model, key: number, pick: TokenPick): string {
  const issued = m.tokens[key]!;
  if (pick === 'unknown' || issued.length === 0) return `never-issued-${crypto.randomUUID()}`;
  return issued[issued.length - 1 - (pick % issued.length)]!;
}

/** Apply an event to the model; in server mode `now` is this process's clock. */
function step<E extends LifecycleEvent>(m: Model, key: number, event: E) {
  const { next, result } = transition(m.records[key]!, event);
  m.records[key] = next;
  return result;
}

function modelNow(m: Model, real: Real): number {
  return real.h.injectable ? m.now : real.h.now();
}

/** Count the command in the coverage tally, against the state it meets. */
function noteCommand(
  m: Model,
  r: Real,
  key: number,
  command: CoverageCommand,
  token?: string,
): void {
  const latest = token === undefined ? undefined : token === m.tokens[key]!.at(-1);
  r.coverage.note(m.records[key]!, modelNow(m, r), command, latest);
}

class Claim implements Cmd {
  constructor(
    readonly key: number,
    readonly fp: number,
    readonly leaseMs: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const token = crypto.randomUUID();
    const fingerprint = FINGERPRINTS[this.fp]!;
    noteCommand(m, r, this.key, 'claim');
    const actual = await r.h.store.claim(r.keys[this.key]!, {
      fingerprint,
      token,
      leaseMs: this.leaseMs,
    });
    const expected = step(m, this.key, {
      type: 'claim',
      now: modelNow(m, r),
      fingerprint,
      token,
      leaseMs: this.leaseMs,
    });
    if (expected.claimed) m.tokens[this.key]!.push(token);
    checkClaim(actual, expected, r.h.toleranceMs, this.toString());
  }
  toString = () => `claim(k${this.key}, ${FINGERPRINTS[this.fp]}, lease ${this.leaseMs})`;
}

class Complete implements Cmd {
  constructor(
    readonly key: number,
    readonly pick: TokenPick,
    readonly response: StoredResponse,
    readonly ttlMs: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const token = pickToken(m, this.key, this.pick);
    noteCommand(m, r, this.key, 'complete', token);
    const actual = await r.h.store.complete(r.keys[this.key]!, token, this.response, this.ttlMs);
    const expected = step(m, this.key, {
      type: 'complete',
      now: modelNow(m, r),
      token,
      response: this.response,
      ttlMs: this.ttlMs,
    });
    check(actual === expected, `${this}: expected '${expected}', got '${String(actual)}'`);
  }
  toString = () =>
    `complete(k${this.key}, token ${this.pick}, status ${this.response.status}, ttl ${this.ttlMs})`;
}

class Release implements Cmd {
  constructor(
    readonly key: number,
    readonly pick: TokenPick,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const token = pickToken(m, this.key, this.pick);
    noteCommand(m, r, this.key, 'release', token);
    const actual = await r.h.store.release(r.keys[this.key]!, token);
    const expected = step(m, this.key, { type: 'release', now: modelNow(m, r), token });
    check(actual === expected, `${this}: expected '${expected}', got '${String(actual)}'`);
  }
  toString = () => `release(k${this.key}, token ${this.pick})`;
}

class Renew implements Cmd {
  constructor(
    readonly key: number,
    readonly pick: TokenPick,
    readonly leaseMs: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const token = pickToken(m, this.key, this.pick);
    noteCommand(m, r, this.key, 'renew', token);
    const actual = await r.h.store.renew(r.keys[this.key]!, token, this.leaseMs);
    const expected = step(m, this.key, {
      type: 'renew',
      now: modelNow(m, r),
      token,
      leaseMs: this.leaseMs,
    });
    check(actual === expected, `${this}: expected '${expected}', got '${String(actual)}'`);
  }
  toString = () => `renew(k${this.key}, token ${this.pick}, lease ${this.leaseMs})`;
}

class Read implements Cmd {
  constructor(readonly key: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    noteCommand(m, r, this.key, 'read');
    const actual = await r.h.store.read(r.keys[this.key]!);
    const expected = toRecord(observe(m.records[this.key]!, modelNow(m, r)));
    checkRecord(actual, expected, r.h.toleranceMs, this.toString());
  }
  toString = () => `read(k${this.key})`;
}

class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.now += this.ms;
    await r.h.advance(this.ms);
  }
  toString = () => `advance(${this.ms} ms)`;
}

/** The command arbitraries; durations scaled to the store's resolution. */
function commandArbitraries(h: Harness): fc.Arbitrary<Cmd>[] {
  const key = fc.nat({ max: KEYS - 1 });
  // The latest token most often: only it can move a record, so it reaches the deep states.
  const pick: fc.Arbitrary<TokenPick> = fc.oneof(
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }) },
    { weight: 2, arbitrary: fc.constant('unknown' as const) },
  );
  // With a fake clock, short leases and advances make expiry race everything else.
  // With a server clock nothing may expire mid-run: real time is not the model's.
  const lease = h.injectable
    ? fc.integer({ min: 1, max: 50 }).map((n) => n * 100 * h.resolutionMs)
    : fc.constant(600_000);
  // Completed records must also expire within a run's few advances.
  const ttl = h.injectable
    ? fc.integer({ min: 10, max: 100 }).map((n) => n * 100 * h.resolutionMs)
    : fc.constant(1_200_000);
  const arbs: fc.Arbitrary<Cmd>[] = [
    fc
      .tuple(key, fc.nat({ max: FINGERPRINTS.length - 1 }), lease)
      .map(([k, f, l]) => new Claim(k, f, l)),
    // Twice as likely as the rest: most interesting histories start with a claim.
    fc
      .tuple(key, fc.nat({ max: FINGERPRINTS.length - 1 }), lease)
      .map(([k, f, l]) => new Claim(k, f, l)),
    fc
      .tuple(key, pick, storedResponse(256), ttl)
      .map(([k, p, res, t]) => new Complete(k, p, res, t)),
    fc.tuple(key, pick).map(([k, p]) => new Release(k, p)),
    fc.tuple(key, pick, lease).map(([k, p, l]) => new Renew(k, p, l)),
    key.map((k) => new Read(k)),
  ];
  if (h.injectable) {
    const advance = fc
      .integer({ min: 0, max: 60 })
      .map((n) => new Advance(n * 100 * h.resolutionMs));
    // Twice, like claims: expired leases and records are half the lifecycle's states.
    arbs.push(advance, advance);
  }
  return arbs;
}

/**
 * Long sequences (up to 60 commands, lengths spread over the whole range):
 * the expired and completed states sit several commands deep, and short
 * runs spend their commands re-walking the first few states. Measured on the
 * memory store: 100 runs reach all 40 kinds of transition with ~2,400
 * commands; fast-check's default small sizes reached 28 in 200 runs.
 */
const COMMANDS = { maxCommands: 60, size: 'max' } as const;

/** Run the model-based property against the harness's store; what it reached of the lifecycle. */
export async function modelCheck(h: Harness, runs: number): Promise<LifecycleCoverage> {
  const coverage = new CoverageTally(h.injectable);
  await fc.assert(
    fc.asyncProperty(fc.commands(commandArbitraries(h), COMMANDS), async (cmds) => {
      const keys = await Promise.all(Array.from({ length: KEYS }, () => h.freshKey()));
      const model: Model = {
        now: h.now(),
        records: keys.map(() => ABSENT),
        tokens: keys.map(() => []),
      };
      await fc.asyncModelRun(() => ({ model, real: { h, keys, coverage } }), cmds);
    }),
    fcParameters(runs),
  );
  return coverage.report();
}
