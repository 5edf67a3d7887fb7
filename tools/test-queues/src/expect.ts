import { expect } from 'vitest';
import { ackProblems } from './acks.js';
import type { Figures, Ledger } from './figures.js';
import type { CrashRun } from './run.js';

/**
 * Check a crash run with idem: every message applied exactly once, each kill
 * where it was planned, and each crash point resolved the way it must be
 * (see {@link ackProblems}).
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
  expect(ackProblems(run, ledger)).toEqual([]);
  // The crash after a commit did happen: some consumer died with a committed message unacked.
  expect(f.lostAcks).toBeGreaterThan(0);
}
