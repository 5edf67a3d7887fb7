import { expect } from 'vitest';
import type { Figures, Ledger } from './figures.js';
import type { CrashRun } from './run.js';

/**
 * Check a crash run with idem: every message applied exactly once, each kill
 * where it was planned, and each crash point resolved the way it must be.
 */
export function expectAppliedOnce(
  run: CrashRun,
  ledger: Ledger,
  f: Figures,
  plannedKills: number,
): void {
  expect(f.kills).toBe(plannedKills);
  expect({ sideEffects: f.sideEffects, duplicates: f.duplicates, lost: f.lost }).toEqual({
    sideEffects: f.messages,
    duplicates: 0,
    lost: 0,
  });
  expect(f.deadLettered).toBe(0);
  expect(f.redeliveries).toBeGreaterThan(0);
  for (const kill of run.kills) {
    if (kill.point === 'after-write') {
      // Its INSERT died with its transaction: another consumer applied it.
      expect(ledger.byMessage.get(kill.messageId)).not.toContain(kill.consumer);
    } else {
      // Its commit stood: the redelivery got the stored result.
      const acks = run.settled.filter((e) => e.messageId === kill.messageId && e.action === 'ack');
      expect(acks.at(-1)?.status).toBe('replayed');
    }
  }
  expect(f.replayed).toBeGreaterThanOrEqual(f.killsBeforeAck);
}
