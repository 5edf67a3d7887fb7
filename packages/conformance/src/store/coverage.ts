import { observe, type RecordState } from '@idem/core/store';

/**
 * Which parts of the key lifecycle a run of the model-based check reached.
 *
 * A transition is counted by the state the model held before the command
 * (with a lease that ran out and an expired completion told apart from the
 * live ones), the command, and for the owner's commands whether they used
 * the key's latest claim token or an older or unknown one: 5 states × 8
 * commands = 40 kinds. With a server clock nothing expires during the run,
 * so 24 are reachable.
 */
export interface LifecycleCoverage {
  /** Commands run against the store, in all runs. */
  readonly transitions: number;
  /** How often each kind of transition ran, by name, e.g. `'in_progress · complete (latest token)'`. */
  readonly kinds: Readonly<Record<string, number>>;
  /** How many kinds the check could reach with this store's clock (40, or 24 with a server clock). */
  readonly reachable: number;
}

/** The commands the model check sends. */
export type CoverageCommand = 'claim' | 'complete' | 'release' | 'renew' | 'read';

const OWNER_COMMANDS: readonly CoverageCommand[] = ['complete', 'release', 'renew'];

function stateName(record: RecordState, now: number): string {
  if (record.state === 'absent') return 'absent';
  const expired = observe(record, now).state === 'absent';
  if (record.state === 'in_progress')
    return expired ? 'in_progress (lease ran out)' : 'in_progress';
  return expired ? 'completed (expired)' : 'completed';
}

/** Every kind a run can reach; `injectable` adds the expired states. */
export function reachableKinds(injectable: boolean): string[] {
  const states = ['absent', 'in_progress', 'completed'];
  if (injectable) states.push('in_progress (lease ran out)', 'completed (expired)');
  return states.flatMap((s) => [
    `${s} · claim`,
    `${s} · read`,
    ...OWNER_COMMANDS.flatMap((c) => [`${s} · ${c} (latest token)`, `${s} · ${c} (other token)`]),
  ]);
}

/** Tallies transitions as the model check runs them. */
export class CoverageTally {
  private readonly counts = new Map<string, number>();
  private total = 0;

  constructor(private readonly injectable: boolean) {}

  /**
   * Count one command against the model state it met.
   * @param latest Whether an owner command used the key's latest claim token.
   */
  note(record: RecordState, now: number, command: CoverageCommand, latest?: boolean): void {
    const token = latest === undefined ? '' : latest ? ' (latest token)' : ' (other token)';
    const kind = `${stateName(record, now)} · ${command}${token}`;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    this.total++;
  }

  /** The tally as plain data (it crosses process and isolate boundaries as JSON). */
  report(): LifecycleCoverage {
    return {
      transitions: this.total,
      kinds: Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b))),
      reachable: reachableKinds(this.injectable).length,
    };
  }
}
