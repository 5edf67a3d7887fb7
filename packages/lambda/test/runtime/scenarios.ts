import type { Delivery } from './environment.js';
import type { Fleet } from './fleet.js';

/**
 * The scenarios every entry point goes through on the real runtime: a
 * duplicate storm, a run killed mid-way (process exit, timeout) and
 * redelivered, and the late completion of a run that outlived its deadline.
 * A subject says how to deliver one key and how to read an answer.
 */

/** How the event source would take an answer for one key. */
export type Verdict =
  /** The work ran in this delivery. */
  | 'executed'
  /** The stored answer came back. */
  | 'replayed'
  /** The key is in flight elsewhere (HTTP 409, a batch item failure, RequestInFlightError). */
  | 'in-flight'
  /** Anything else: an error, a timeout, a dead process. */
  | 'other';

export interface Subject {
  readonly fleet: Fleet;
  /** The event that asks for `key`'s work. */
  event(key: string): unknown;
  /** How the event source reads the delivery's answer for `key`. */
  verdict(delivery: Delivery, key: string): Verdict;
  /** What a replay must repeat byte for byte (the executed answer's body or result). */
  answer(delivery: Delivery, key: string): string;
}

/** What a storm did, summed over its keys. */
export interface StormFigures {
  readonly keys: number;
  readonly deliveries: number;
  readonly executions: number;
  readonly replays: number;
  readonly inFlight: number;
  readonly other: number;
}

/**
 * A duplicate storm: for each key in turn, every environment delivers it
 * `perEnvironment` times back to back, all environments at once. The first
 * wave races for the claim; the duplicates that arrive while the winner
 * works find the key in flight; the rest find it completed.
 */
export async function storm(
  subject: Subject,
  keys: readonly string[],
  perEnvironment: number,
): Promise<{ figures: StormFigures; byKey: Map<string, Verdicted[]> }> {
  const byKey = new Map<string, Verdicted[]>();
  for (const key of keys) {
    const waves = await Promise.all(
      subject.fleet.environments.map(async (_, environment) => {
        const delivered: Verdicted[] = [];
        for (let n = 0; n < perEnvironment; n++) {
          const delivery = await subject.fleet.deliver(environment, subject.event(key));
          delivered.push({ delivery, verdict: subject.verdict(delivery, key) });
        }
        return delivered;
      }),
    );
    byKey.set(key, waves.flat());
  }
  return { figures: count(byKey), byKey };
}

/** A delivery and how the event source read it. */
export interface Verdicted {
  readonly delivery: Delivery;
  readonly verdict: Verdict;
}

function count(byKey: Map<string, Array<{ verdict: Verdict }>>): StormFigures {
  const all = [...byKey.values()].flat();
  const of = (v: Verdict) => all.filter((d) => d.verdict === v).length;
  return {
    keys: byKey.size,
    deliveries: all.length,
    executions: of('executed'),
    replays: of('replayed'),
    inFlight: of('in-flight'),
    other: of('other'),
  };
}

/** A run killed mid-way and the redelivery that took its key over. */
export interface Takeover {
  /** The killed delivery (an exit or a timeout). */
  readonly killed: Delivery;
  /** The delivery that ran the work again. */
  readonly executed: Delivery;
  /** From the killed invocation's deadline to the new run's start, in ms. */
  readonly delayMs: number;
  /** Redeliveries answered "in flight" before the takeover. */
  readonly refused: number;
  /** Redeliveries answered anything else before the takeover (should be none). */
  readonly unexpected: Verdicted[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Redeliver `key` to environment 1 every `everyMs` until a delivery runs
 * the work, as SQS redelivers after the visibility timeout or a client
 * retries; `killed` is the delivery whose run was cut off.
 */
export async function redeliverUntilRun(
  subject: Subject,
  key: string,
  killed: Delivery,
  everyMs = 100,
): Promise<Takeover> {
  const { fleet } = subject;
  const runsBefore = fleet.ledger.runsOf(key).length;
  const giveUpAt = killed.deadlineMs + fleet.leaseMarginMs + 15_000;
  let refused = 0;
  const unexpected: Verdicted[] = [];
  for (;;) {
    const delivery = await fleet.deliver(1, subject.event(key));
    const verdict = subject.verdict(delivery, key);
    if (verdict === 'executed') {
      const run = fleet.ledger.runsOf(key)[runsBefore];
      if (!run) throw new Error(`${key}: executed without a run in the ledger`);
      return {
        killed,
        executed: delivery,
        delayMs: run.at - killed.deadlineMs,
        refused,
        unexpected,
      };
    }
    if (verdict === 'in-flight') refused++;
    else unexpected.push({ delivery, verdict });
    if (Date.now() > giveUpAt) {
      throw new Error(
        `${key}: no redelivery ran it within ${fleet.leaseMarginMs + 15_000} ms of the killed run's deadline (${refused} refused, last answer ${JSON.stringify(delivery.result).slice(0, 300)})`,
      );
    }
    await sleep(everyMs);
  }
}

/** The handler exits the process mid-run (`process.exit(1)`), or hangs past its deadline and is killed. */
export async function killAndRedeliver(
  subject: Subject,
  key: string,
  how: 'exit' | 'timeout',
): Promise<Takeover> {
  subject.fleet.ledger.plan(key, { action: how === 'exit' ? 'exit' : 'hang' });
  const killed = await subject.fleet.deliver(0, subject.event(key));
  return redeliverUntilRun(subject, key, killed);
}

/** A run that outlived its deadline, frozen there, then let finish after another run took over. */
export interface LateCompletion extends Takeover {
  /** The first delivery after the late run finished. */
  readonly after: Delivery;
  /** Side effects of the key: the late run's work happened too (only its completion is fenced). */
  readonly effects: number;
}

/**
 * The handler hangs past its deadline; the harness freezes the process
 * there (SIGSTOP) instead of killing it. A redelivery takes the key over
 * and completes; then the frozen run is thawed and finishes: its completion
 * must not replace the stored answer.
 */
export async function lateCompletion(subject: Subject, key: string): Promise<LateCompletion> {
  const { fleet } = subject;
  fleet.ledger.plan(key, { action: 'hang' });
  const killed = await fleet.deliver(0, subject.event(key), { onTimeout: 'freeze' });
  const takeover = await redeliverUntilRun(subject, key, killed);
  const late = fleet.environments[0]!.thaw();
  fleet.ledger.release(key);
  try {
    await fleet.ledger.until(
      () => fleet.ledger.effectsOf(key).length >= 2,
      10_000,
      `${key}'s late run`,
    );
    // The late run's completion (a stale write) follows its side effect by a round trip.
    await sleep(500);
    const after = await fleet.deliver(1, subject.event(key));
    return { ...takeover, after, effects: fleet.ledger.effectsOf(key).length };
  } finally {
    late?.kill('SIGKILL');
  }
}
