import type pg from 'pg';
import type { CrashRun } from './run.js';

/** The side effects: the ledger rows, by message id, with the consumer that wrote each. */
export interface Ledger {
  readonly rows: number;
  readonly byMessage: ReadonlyMap<string, readonly string[]>;
}

/** Read a ledger table written by the example consumers (`message_id`, `applied_by`). */
export async function readLedger(pool: pg.Pool, table: string): Promise<Ledger> {
  const { rows } = await pool.query<{ message_id: string; applied_by: string }>(
    `SELECT message_id, applied_by FROM ${table} ORDER BY id`,
  );
  const byMessage = new Map<string, string[]>();
  for (const row of rows) {
    byMessage.set(row.message_id, [...(byMessage.get(row.message_id) ?? []), row.applied_by]);
  }
  return { rows: rows.length, byMessage };
}

/** What a crash run did, in the numbers the tests print and check. */
export interface Figures {
  readonly messages: number;
  readonly processes: number;
  readonly kills: number;
  readonly killsAfterWrite: number;
  readonly killsBeforeAck: number;
  /** Deliveries the consumers settled (those in hand when a process died are not counted). */
  readonly deliveries: number;
  /** Settled deliveries that were not a message's first. */
  readonly redeliveries: number;
  /** Ledger rows: side effects. */
  readonly sideEffects: number;
  /** Messages with more than one ledger row (must be 0). */
  readonly duplicates: number;
  /** Messages without a ledger row (must be 0). */
  readonly lost: number;
  /** Deliveries that got the stored result instead of running again: duplicates prevented. */
  readonly replayed: number;
  /**
   * Messages whose commit stood but whose consumer died before acking them
   * (each acked `replayed` later). Not `killsBeforeAck`: a message can be
   * killed before its ack twice, and a kill elsewhere can lose an ack too.
   */
  readonly lostAcks: number;
  /** Deliveries requeued because a crashed consumer's claim was still leased. */
  readonly heldInFlight: number;
  /** Deliveries requeued for any other reason. */
  readonly otherRetries: number;
  readonly deadLettered: number;
}

/** Count a run's figures against its ledger. */
export function figures(run: CrashRun, ledger: Ledger, ids: readonly string[]): Figures {
  const retries = run.settled.filter((s) => s.action === 'retry');
  const held = retries.filter((s) => s.reason === 'REQUEST_IN_FLIGHT').length;
  return {
    messages: ids.length,
    processes: run.processes,
    kills: run.kills.length,
    killsAfterWrite: run.kills.filter((k) => k.point === 'after-write').length,
    killsBeforeAck: run.kills.filter((k) => k.point === 'before-ack').length,
    deliveries: run.settled.length,
    redeliveries: run.settled.filter((s) => s.deliveries > 1).length,
    sideEffects: ledger.rows,
    duplicates: [...ledger.byMessage.values()].filter((by) => by.length > 1).length,
    lost: ids.filter((id) => !ledger.byMessage.has(id)).length,
    replayed: run.settled.filter((s) => s.status === 'replayed').length,
    lostAcks: [...ledger.byMessage].filter(
      ([id, by]) =>
        by.length === 1 && !run.settled.some((s) => s.messageId === id && s.status === 'executed'),
    ).length,
    heldInFlight: held,
    otherRetries: retries.length - held,
    deadLettered: run.settled.filter((s) => s.action === 'dead-letter').length,
  };
}

/** One line for the test output. */
export function formatFigures(label: string, f: Figures): string {
  return [
    `${label}: ${f.messages} messages, ${f.kills} kills (${f.killsAfterWrite} after the write before commit, ${f.killsBeforeAck} after commit before ack), ${f.processes} consumer processes`,
    `  ${f.deliveries} deliveries settled, ${f.redeliveries} of them redeliveries; ${f.replayed} replayed (duplicates prevented) of ${f.lostAcks} messages whose ack died with their consumer, ${f.heldInFlight} held while a dead consumer's lease ran, ${f.otherRetries} other retries, ${f.deadLettered} dead-lettered`,
    `  side effects ${f.sideEffects} = messages ${f.messages}: ${f.duplicates} applied twice, ${f.lost} lost`,
  ].join('\n');
}
