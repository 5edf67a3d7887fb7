import { randomUUID } from 'node:crypto';
import { postgresStore } from '@idem/store-postgres';
import type pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { ackProblems } from './acks.js';
import { expectAppliedOnce } from './expect.js';
import { type Figures, figures, formatFigures, type Ledger, readLedger } from './figures.js';
import { DATABASE_URL, testPool, uniqueName } from './postgres.js';
import type { CrashPoint } from './protocol.js';
import { type CrashRun, crashRun } from './run.js';

/** A credit message, as both example consumers take it. */
export interface Outgoing {
  readonly messageId: string;
  readonly credit: { readonly account: string; readonly amountCents: number };
}

/** A queue (or stream) of a test's own on the broker. */
export interface TestQueue {
  /** What a consumer process needs to find it (merged into its environment). */
  readonly env: Readonly<Record<string, string>>;
  /** Publish credits with their ids, confirmed by the broker. */
  publish(messages: readonly Outgoing[]): Promise<void>;
  /** Messages still queued (not acked) and messages dead-lettered. */
  left(): Promise<{ readonly queued: number; readonly deadLettered: number }>;
  /** Delete it. */
  close(): Promise<void>;
}

/** What {@link crashSuite} needs from an example. */
export interface CrashSuiteOptions {
  /** The broker's name, for the figures. */
  readonly broker: string;
  /** The example's consumer process (see `parentLink`). */
  readonly child: string;
  /** A fresh queue for one scenario. */
  open(): Promise<TestQueue>;
  /** The example's ledger DDL. */
  createLedger(pool: pg.Pool, table: string): Promise<void>;
  /** idem's lease in the consumers. */
  readonly leaseMs: number;
  /** What the competing scenario calls the thing two consumers share. */
  readonly shared: string;
}

const KILLS: CrashPoint[] = [
  'after-write',
  'before-ack',
  'after-write',
  'before-ack',
  'after-write',
  'before-ack',
];

interface Scenario {
  readonly label: string;
  readonly consumers: number;
  readonly count: number;
  readonly kills: readonly CrashPoint[];
  readonly withoutIdem?: boolean;
}

/** Vitest's `annotate` from a test's context. */
type Annotate = (message: string, type?: string) => Promise<unknown>;

/**
 * The crash tests, the same for every broker: consumers in child processes
 * SIGKILLed after the ledger INSERT but before idem's COMMIT, and after `run`
 * resolved but before the ack; one consumer at a time, two competing, and a
 * control run without idem that must show duplicates. Call it inside a
 * `describe`.
 */
export function crashSuite(options: CrashSuiteOptions): void {
  const pool = testPool();
  afterAll(() => pool.end());

  /**
   * Publish `count` credits, run the consumers with their kills, and read the
   * ledger. The figures become a test annotation (shown by
   * `--reporter=verbose` and with a failure), not console output.
   */
  async function scenario(
    s: Scenario,
    annotate: Annotate,
  ): Promise<{ run: CrashRun; ledger: Ledger; f: Figures; left: unknown }> {
    const records = uniqueName('idem_records');
    const ledger = uniqueName('idem_ledger');
    const queue = await options.open();
    try {
      await postgresStore({ pool, table: records }).migrate();
      await options.createLedger(pool, ledger);
      const ids = Array.from({ length: s.count }, () => randomUUID());
      await queue.publish(
        ids.map((messageId, i) => ({
          messageId,
          credit: { account: `acct-${i % 17}`, amountCents: 100 + i },
        })),
      );
      const run = await crashRun({
        child: options.child,
        env: {
          ...queue.env,
          DATABASE_URL,
          RECORDS_TABLE: records,
          LEDGER_TABLE: ledger,
          LEASE_MS: String(options.leaseMs),
          RETRY_DELAY_MS: '250',
          WITHOUT_IDEM: s.withoutIdem ? '1' : '0',
        },
        ids,
        consumers: s.consumers,
        kills: s.kills,
        spacing: Math.floor((2 * s.count) / (s.kills.length + 1)),
      });
      const rows = await readLedger(pool, ledger);
      const f = figures(run, rows, ids);
      await annotate(formatFigures(`${options.broker}, ${s.label}`, f), 'figures');
      return { run, ledger: rows, f, left: await queue.left() };
    } finally {
      await queue.close();
      await pool.query(`DROP TABLE IF EXISTS ${records}, ${ledger}`);
    }
  }

  async function appliedOnce(s: Scenario, annotate: Annotate): Promise<Figures> {
    const { run, ledger, f, left } = await scenario(s, annotate);
    expectAppliedOnce(run, ledger, f, s.kills.length);
    // Every message acked, nothing parked: the broker holds nothing more.
    expect(left).toEqual({ queued: 0, deadLettered: 0 });
    return f;
  }

  it('one consumer at a time, replaced after each kill: every message applied once', async ({
    annotate,
  }) => {
    await appliedOnce(
      { label: 'one consumer at a time', consumers: 1, count: 300, kills: KILLS },
      annotate,
    );
  }, 60_000);

  it(`two consumers competing on one ${options.shared}, one killed at a time: every message applied once`, async ({
    annotate,
  }) => {
    const f = await appliedOnce(
      { label: 'two competing consumers', consumers: 2, count: 400, kills: KILLS },
      annotate,
    );
    // The message killed before its commit came back while the dead
    // consumer's claim was still leased: held, not run twice.
    expect(f.heldInFlight).toBeGreaterThan(0);
  }, 60_000);

  it('the control: without idem, the same consumer killed before its acks applies messages twice', async ({
    annotate,
  }) => {
    const kills: CrashPoint[] = ['before-ack', 'before-ack', 'before-ack'];
    const { run, ledger, f } = await scenario(
      { label: 'control, without idem', consumers: 1, count: 150, kills, withoutIdem: true },
      annotate,
    );
    expect(f.kills).toBe(kills.length);
    expect(f.lost).toBe(0);
    // Each kill left at least its own committed, unacked message to be applied again.
    expect(f.duplicates).toBeGreaterThanOrEqual(kills.length);
    // The check the runs with idem pass finds each of them, and nothing else.
    const problems = ackProblems(run, ledger);
    expect(problems).toHaveLength(f.duplicates);
    for (const problem of problems) expect(problem).toMatch(/: applied \d+ times \(by /);
  }, 60_000);
}
