import type { Ledger } from './figures.js';
import type { CrashRun } from './run.js';

/**
 * What a crash run's acks and kills say against its ledger, message by
 * message: an empty list when every crash point was resolved as it must be.
 *
 * For each message, its ledger row names the consumer whose commit stood
 * (its writer). Then:
 * - only the writer may ack it `executed`, and only once: any other delivery
 *   that got past `run` got the stored result;
 * - every other ack of it is `replayed`;
 * - if the writer never acked it, the writer died after its commit and before
 *   its ack: the writer was killed, and the message was acked later, each
 *   time `replayed`;
 * - a consumer killed after its write but before the commit is not its writer.
 *
 * Kills are not counted against replays: one message can be killed before
 * its ack more than once (its redelivery replays and is killed too), and a
 * process killed with a redelivery in hand leaves the replay to the next one.
 * A message applied twice is reported as such; one never applied is left to
 * the side-effect count (the ledger does not know its id).
 */
export function ackProblems(run: CrashRun, ledger: Ledger): string[] {
  const problems: string[] = [];
  const killed = new Set(run.kills.map((k) => k.consumer));
  for (const [id, writers] of ledger.byMessage) {
    if (writers.length > 1) {
      problems.push(`${id}: applied ${writers.length} times (by ${writers.join(', ')})`);
      continue;
    }
    const writer = writers[0]!;
    const acks = run.settled.filter((s) => s.messageId === id && s.action === 'ack');
    const executed = acks.filter((a) => a.status === 'executed');
    for (const a of executed) {
      if (a.consumer !== writer) {
        problems.push(`${id}: acked executed by ${a.consumer}, but its write is ${writer}'s`);
      }
    }
    if (executed.length > 1) problems.push(`${id}: acked executed ${executed.length} times`);
    for (const a of acks) {
      if (a.status !== 'executed' && a.status !== 'replayed') {
        problems.push(`${id}: acked by ${a.consumer} without a result (${a.reason})`);
      }
    }
    if (executed.length === 0) {
      // The writer's ack was lost: only a kill after its commit loses it.
      if (!killed.has(writer)) {
        problems.push(`${id}: ${writer} committed it, was not killed, and never acked it`);
      }
      if (acks.length === 0) problems.push(`${id}: committed by ${writer}, never acked`);
    }
  }
  for (const kill of run.kills) {
    const writers = ledger.byMessage.get(kill.messageId) ?? [];
    if (kill.point === 'after-write' && writers.includes(kill.consumer)) {
      // Its INSERT must have died with its transaction.
      problems.push(
        `${kill.messageId}: ${kill.consumer} was killed before its commit but wrote it`,
      );
    }
    if (kill.point === 'before-ack' && writers.length === 0) {
      // It got past `run`: the message was committed, by it or before it.
      problems.push(
        `${kill.messageId}: ${kill.consumer} was killed after its commit, no write stood`,
      );
    }
  }
  return problems;
}
