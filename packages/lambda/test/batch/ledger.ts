import type { BatchRecord } from '../../src/index.js';
import type { SourceCase } from './events.js';

/**
 * What the record handlers did, by record identifier: how often each ran to
 * success (the side effects), how often it was called at all, and the
 * records told to fail.
 */
export class Ledger {
  readonly effects: Map<string, number> = new Map();
  readonly calls: Map<string, number> = new Map();
  /** Identifiers whose handler throws while listed. */
  readonly failing: Set<string> = new Set();
  inFlight: number = 0;
  maxInFlight: number = 0;

  constructor(readonly source: SourceCase) {}

  /** A record handler writing to this ledger; `gate` holds it until resolved. */
  handler(gate?: Promise<void>): (record: BatchRecord) => Promise<{ done: string }> {
    return async (record: BatchRecord) => {
      const id = this.source.identifier(record);
      this.calls.set(id, (this.calls.get(id) ?? 0) + 1);
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
      try {
        await (gate ?? new Promise((resolve) => setImmediate(resolve)));
        if (this.failing.has(id)) throw new Error(`record ${id} fails`);
        this.effects.set(id, (this.effects.get(id) ?? 0) + 1);
        return { done: this.source.body(record) };
      } finally {
        this.inFlight--;
      }
    };
  }

  effectsOf(records: readonly BatchRecord[]): number[] {
    return records.map((r) => this.effects.get(this.source.identifier(r)) ?? 0);
  }

  callsOf(records: readonly BatchRecord[]): number[] {
    return records.map((r) => this.calls.get(this.source.identifier(r)) ?? 0);
  }
}

/** The identifiers of `records` as `batchItemFailures` lists them. */
export const failuresOf = (
  source: SourceCase,
  records: readonly BatchRecord[],
): { itemIdentifier: string }[] => records.map((r) => ({ itemIdentifier: source.identifier(r) }));
