/** What every part of a bench run does the same way: its commit, its option lists, its Redis keys. */
import { execFileSync } from 'node:child_process';
import type { Redis } from 'ioredis';

/** The short commit the run measured, or `unknown` outside a git checkout. */
export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** A comma-separated option's values, each checked against `all`; every value when none is given. */
export function pickList<T extends string>(value: string | undefined, all: readonly T[]): T[] {
  if (!value) return [...all];
  const picked = value.split(',').map((s) => s.trim()) as T[];
  for (const p of picked) {
    if (!all.includes(p)) throw new Error(`Unknown value ${p}; pick from ${all.join(', ')}.`);
  }
  return picked;
}

/** Deletes every Redis key that carries `runId` (each library's prefix does); how many went. */
export async function deleteRunKeys(client: Redis, runId: string): Promise<number> {
  let deleted = 0;
  for (let cursor = '0'; ; ) {
    const [next, keys] = await client.scan(cursor, 'MATCH', `*${runId}*`, 'COUNT', 1000);
    if (keys.length > 0) deleted += await client.unlink(...keys);
    cursor = next;
    if (cursor === '0') return deleted;
  }
}
