import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Store } from '@idem/core/store';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ATOMIC_CLAIM_FIX,
  childProcesses,
  type StoreSuiteOptions,
  storeChecks,
} from '../src/store.js';
import { type ClaimStyle, createTable, sqliteStore } from './sqlite-store.js';

/**
 * The `connections` checks have teeth: a SQLite store whose claim reads, then
 * writes in a second statement (on better-sqlite3, a synchronous driver, so
 * no `await` between them) passes every check that races inside one process,
 * and the race across processes finds its two owners. The same store with
 * the two statements in one `BEGIN IMMEDIATE` transaction passes.
 */

const dir = mkdtempSync(join(tmpdir(), 'idem-sqlite-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// tsx (the workspace's TypeScript runner) loads the process module from source, as vitest does.
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function options(style: ClaimStyle): StoreSuiteOptions {
  const file = join(dir, `${style}.db`);
  createTable(file);
  const open = () => sqliteStore({ file, style });
  return {
    name: `sqlite (${style})`,
    clock: 'injectable', // the race moves no clock; each connection reads Date.now()
    createStore: open,
    closeStore: (store: Store) => (store as ReturnType<typeof open>).close(),
    connect: () => {
      const store = open();
      return { store, close: () => store.close() };
    },
    processes: childProcesses(new URL('./sqlite-store-process.ts', import.meta.url), {
      input: { file, style },
      count: 3,
      execArgv: ['--conditions=@idem/source', '--import', tsx],
    }),
    raceKeys: 1_000,
  };
}

function race(style: ClaimStyle, over: 'connections' | 'processes') {
  const checks = storeChecks(options(style)).filter((c) => c.group === 'connections');
  expect(checks).toHaveLength(2);
  return checks.find((c) => c.name.includes(over === 'processes' ? 'processes' : 'connections ('))!;
}

describe('the connections race on SQLite files (better-sqlite3)', () => {
  it('a check-then-set claim gets two owners across processes: the check names a key and the fix', async () => {
    const check = race('check-then-set', 'processes');
    const failure = await check.run().then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure, 'the processes race must catch the check-then-set claim').toBeInstanceOf(Error);
    expect(failure!.name).toBe('ConformanceError');
    expect(failure!.message).toMatch(
      /^two owners: key "idem1:[^"]+" was claimed \(claimed: true\) by .+ and .+ at once; \d+ of 1000 keys/,
    );
    expect(failure!.message).toContain(ATOMIC_CLAIM_FIX);
    expect(failure!.message).toContain(
      'claim must be one atomic statement or an immediate transaction',
    );
  }, 60_000);

  it('the same store passes the race over connections of one process: only other processes catch it', async () => {
    // No await between its SELECT and INSERT: in one process, nothing comes between them.
    await race('check-then-set', 'connections').run();
  }, 60_000);

  it('a claim in one BEGIN IMMEDIATE transaction passes both races', async () => {
    await race('immediate', 'connections').run();
    await race('immediate', 'processes').run();
  }, 60_000);
});
