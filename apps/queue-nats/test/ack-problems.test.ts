import { ackProblems, type CrashRun, figures, type Ledger } from '@idem/test-queues';
import { describe, expect, it } from 'vitest';

// The crash suite's per-message check (shared with queue-rabbitmq), on
// recorded runs: interleavings the brokers produce now and then, without any
// double execution, and runs where a crash point was resolved wrongly.

type Settled = CrashRun['settled'][number];

const ack = (
  consumer: string,
  messageId: string,
  status: 'executed' | 'replayed',
  deliveries = 1,
) => ({ consumer, messageId, action: 'ack', status, deliveries }) satisfies Settled;
const held = (consumer: string, messageId: string, deliveries: number) =>
  ({
    consumer,
    messageId,
    action: 'retry',
    reason: 'REQUEST_IN_FLIGHT',
    deliveries,
  }) satisfies Settled;

function ledgerOf(rows: Record<string, string[]>): Ledger {
  const byMessage = new Map(Object.entries(rows));
  return { rows: [...byMessage.values()].flat().length, byMessage };
}

/**
 * The run that failed once in CI (NATS, two competing consumers): `m` was
 * killed before its ack, its redelivery replayed and was killed before its
 * ack too, and a third delivery replayed it. Three kills after a commit,
 * two replays, and every message applied once.
 */
const twiceKilledBeforeAck: { run: CrashRun; ledger: Ledger } = {
  run: {
    processes: 8,
    kills: [
      { point: 'after-write', messageId: 'a', consumer: 'consumer-1' },
      { point: 'before-ack', messageId: 'm', consumer: 'consumer-2' },
      { point: 'after-write', messageId: 'b', consumer: 'consumer-3' },
      { point: 'before-ack', messageId: 'm', consumer: 'consumer-4' },
      { point: 'after-write', messageId: 'c', consumer: 'consumer-5' },
      { point: 'before-ack', messageId: 'n', consumer: 'consumer-6' },
    ],
    settled: [
      ack('consumer-2', 'x', 'executed'),
      held('consumer-2', 'a', 2),
      ack('consumer-3', 'a', 'executed', 3),
      held('consumer-4', 'b', 2),
      ack('consumer-6', 'b', 'executed', 3),
      held('consumer-7', 'c', 2),
      ack('consumer-7', 'c', 'executed', 3),
      ack('consumer-7', 'n', 'replayed', 2),
      ack('consumer-8', 'm', 'replayed', 3),
    ],
  },
  ledger: ledgerOf({
    x: ['consumer-2'],
    a: ['consumer-3'],
    b: ['consumer-6'],
    c: ['consumer-7'],
    m: ['consumer-2'],
    n: ['consumer-6'],
  }),
};

describe('ackProblems: what the crash suite checks per message', () => {
  it('a message killed before its ack twice: no problem, though replays < kills after a commit', () => {
    const { run, ledger } = twiceKilledBeforeAck;
    const f = figures(run, ledger, [...ledger.byMessage.keys()]);
    // What the suite used to assert, and what failed in CI:
    expect(f.killsBeforeAck).toBe(3);
    expect(f.replayed).toBe(2);
    expect(f.lostAcks).toBe(2);
    expect(ackProblems(run, ledger)).toEqual([]);
  });

  it('a stale copy replayed and killed before its ack, after its writer acked: no problem', () => {
    // JetStream redelivered `s` while it waited too long in consumer-1's
    // buffer; consumer-1 ran and acked it, consumer-2's copy replayed.
    const run: CrashRun = {
      processes: 3,
      kills: [{ point: 'before-ack', messageId: 's', consumer: 'consumer-2' }],
      settled: [ack('consumer-1', 's', 'executed')],
    };
    expect(ackProblems(run, ledgerOf({ s: ['consumer-1'] }))).toEqual([]);
  });

  it('an ack lost to a kill at another message (handled side by side): no problem', () => {
    const run: CrashRun = {
      processes: 2,
      kills: [{ point: 'after-write', messageId: 'q', consumer: 'consumer-1' }],
      settled: [ack('consumer-2', 'p', 'replayed', 2), ack('consumer-2', 'q', 'executed', 2)],
    };
    expect(ackProblems(run, ledgerOf({ p: ['consumer-1'], q: ['consumer-2'] }))).toEqual([]);
  });

  it('a redelivery that ran again instead of replaying', () => {
    const { run, ledger } = twiceKilledBeforeAck;
    const rerun = { ...run, settled: [...run.settled, ack('consumer-8', 'n', 'executed', 3)] };
    expect(ackProblems(rerun, ledger)).toEqual([
      "n: acked executed by consumer-8, but its write is consumer-6's",
    ]);
    const twice = ledgerOf({ ...Object.fromEntries(ledger.byMessage), n: ['consumer-6', 'c-8'] });
    expect(ackProblems(run, twice)).toEqual(['n: applied 2 times (by consumer-6, c-8)']);
  });

  it('a committed message whose replay never came', () => {
    const { run, ledger } = twiceKilledBeforeAck;
    const unacked = { ...run, settled: run.settled.filter((s) => s.messageId !== 'm') };
    expect(ackProblems(unacked, ledger)).toEqual(['m: committed by consumer-2, never acked']);
  });

  it("a writer's ack missing though it was not killed, and a writer that acked twice", () => {
    const run: CrashRun = {
      processes: 1,
      kills: [],
      settled: [ack('consumer-1', 'y', 'executed'), ack('consumer-1', 'y', 'executed', 2)],
    };
    const ledger = ledgerOf({ y: ['consumer-1'], z: ['consumer-1'] });
    expect(ackProblems(run, ledger)).toEqual([
      'y: acked executed 2 times',
      'z: consumer-1 committed it, was not killed, and never acked it',
      'z: committed by consumer-1, never acked',
    ]);
  });

  it('kills whose crash point did not hold: a write past the kill, no write behind it', () => {
    const run: CrashRun = {
      processes: 3,
      kills: [
        { point: 'after-write', messageId: 'a', consumer: 'consumer-1' },
        { point: 'before-ack', messageId: 'b', consumer: 'consumer-2' },
      ],
      settled: [ack('consumer-3', 'a', 'replayed', 2), ack('consumer-3', 'b', 'executed', 2)],
    };
    expect(ackProblems(run, ledgerOf({ a: ['consumer-1'] }))).toEqual([
      'a: consumer-1 was killed before its commit but wrote it',
      'b: consumer-2 was killed after its commit, no write stood',
    ]);
  });

  it('an ack without a result', () => {
    const run: CrashRun = {
      processes: 1,
      kills: [],
      settled: [
        { consumer: 'consumer-1', messageId: 'r', action: 'ack', reason: 'X', deliveries: 1 },
      ],
    };
    expect(ackProblems(run, ledgerOf({ r: ['consumer-1'] }))).toEqual([
      'r: acked by consumer-1 without a result (X)',
      'r: consumer-1 committed it, was not killed, and never acked it',
    ]);
  });
});
