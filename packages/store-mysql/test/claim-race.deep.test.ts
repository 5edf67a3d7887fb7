import { type ClaimRequest, type ClaimResult, scopedKey } from '@idem/core/store';
import { cpuPressure } from '@idem/test-pressure';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlStore } from '../src/index.js';
import { dropStore, endPools, newPool, uniqueTable, up } from './db.js';

// Moved from replay.test.ts to the deep tier: 24 claimants racing for at
// least 60 rounds with busy threads on every core is a storm, not a check
// to run on every change.

const raceTable = uniqueTable('idem_race');
const admin = newPool();
let keys = 0;
const freshKey = () => scopedKey(`race-test:${raceTable}`, String(keys++));
const claim = (fingerprint = 'fp', leaseMs = 30_000): ClaimRequest => ({
  fingerprint,
  token: crypto.randomUUID(),
  leaseMs,
});
const response = (text: string) => ({
  status: 201,
  headers: [['content-type', 'text/plain']] as const,
  body: new TextEncoder().encode(text),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(() => endPools());

/**
 * Which step of the claim procedure answered: its plain read (a live row),
 * its INSERT IGNORE (a new key, claimed), or its locking path (a row the
 * read did not see as live: expired, or committed after the read's snapshot).
 */
type Path = 'read' | 'insert' | 'locked';

/** `pool`, recording for each claim (a CALL) which step answered, by the claim's token. */
function observed(pool: mysql.Pool, paths: Map<string, Path>): mysql.Pool {
  return new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver);
      return async (...args: Parameters<mysql.Pool['query']>) => {
        const result = await target.query(...args);
        const sql = (args[0] as { sql?: string }).sql ?? '';
        if (sql.startsWith('CALL')) {
          // The token is the third argument, a hex literal.
          const token = Buffer.from([...sql.matchAll(/X'([0-9a-f]*)'/g)][2]![1]!, 'hex').toString();
          // The read's result set, empty or not, then the locking path's,
          // if it ran; neither with a row: the insert claimed.
          const sets = result[0] as unknown as unknown[];
          const rows = (i: number) => (Array.isArray(sets[i]) ? (sets[i] as unknown[]).length : 0);
          paths.set(token, rows(0) > 0 ? 'read' : rows(1) > 0 ? 'locked' : 'insert');
        }
        return result;
      };
    },
  });
}

describe.skipIf(!up)('claim races under CPU pressure', () => {
  beforeAll(() => mysqlStore({ pool: admin, table: raceTable }).migrate());
  afterAll(() => dropStore(admin, raceTable));

  // Each round, 24 claimants on 3 pools of 8 connections (so 24 server
  // sessions) claim one key, each again and again for a while. A winner
  // holds the key a moment, checks it is still its own (renew), and
  // releases it or, now and then, completes it; the others then race again.
  // Rounds start from an absent key, or from an expired record the racers
  // must take over. The window between the procedure's plain read and its
  // INSERT IGNORE is hit whenever a claimant's read sees no live row and a
  // rival's insert (or takeover) commits before its own INSERT IGNORE: 24
  // claimants starting together on one key, and again at each release,
  // with busy threads on every core delaying sessions between statements,
  // make that common; the 'locked' answers on absent keys count it.
  it('never two owners, every answer valid, the read-then-insert window hit', async () => {
    const pools = [newPool({ connectionLimit: 8 }), newPool({ connectionLimit: 8 })];
    pools.push(newPool({ connectionLimit: 8 }));
    const paths = new Map<string, Path>();
    const stores = pools.map((pool) =>
      mysqlStore({ pool: observed(pool, paths), table: raceTable }),
    );
    const pressure = cpuPressure();
    // At least 60 rounds, and on until the window was hit 5 times (at most 300 rounds).
    let rounds = 0;
    let claims = 0;
    let windowHits = 0;
    let takeovers = 0;
    let completed = 0;
    try {
      for (let round = 0; round < 60 || (windowHits < 5 && round < 300); round++) {
        rounds++;
        const key = await freshKey();
        const expired = round % 3 === 2;
        if (expired) {
          await stores[0]!.claim(key, claim('old', 1));
          await sleep(5);
        }
        let owner: string | undefined;
        let done: Uint8Array | undefined; // the completed body, set before complete() is sent
        let over = false;
        const wins: string[] = [];
        const until = Date.now() + 150;
        const claimant = async (i: number) => {
          const s = stores[i % 3]!;
          while (Date.now() < until && !over) {
            const request = claim();
            const result: ClaimResult = await s.claim(key, request);
            claims++;
            const path = paths.get(request.token);
            if (result.claimed) {
              // Never two owners: nobody else holds the key right now.
              expect(owner, `round ${round}: two owners`).toBeUndefined();
              expect(over, `round ${round}: claimed after completion`).toBe(false);
              owner = request.token;
              wins.push(request.token);
              if (expired && wins.length === 1) takeovers++;
              await sleep(Math.random() * 3);
              expect(await s.renew(key, request.token, 30_000)).toBe('ok');
              if (Math.random() < 0.1) {
                const body = new TextEncoder().encode(`${key} ${request.token}`);
                done = body;
                owner = undefined;
                expect(
                  await s.complete(key, request.token, { ...response(''), body }, 60_000),
                ).toBe('ok');
                over = true;
                completed++;
              } else {
                // Cleared before the release is sent: once the row is gone, a rival may claim.
                owner = undefined;
                expect(await s.release(key, request.token)).toBe('ok');
              }
            } else {
              const { record } = result;
              if (record.state === 'completed') {
                expect(done, `round ${round}: a completion nobody made`).toBeDefined();
                expect(Buffer.from(record.response.body).equals(Buffer.from(done!))).toBe(true);
              } else {
                // A live claim's: the expired record of the round's start ('old') is never answered.
                expect(record.fingerprint).toBe('fp');
              }
              // The read missed a row a rival's insert made it find: the window.
              if (!expired && path === 'locked') windowHits++;
              await sleep(Math.random() * 2);
            }
          }
        };
        await Promise.all(Array.from({ length: 24 }, (_, i) => claimant(i)));
        expect(wins.length, `round ${round}`).toBeGreaterThan(0);
      }
    } finally {
      await pressure.stop();
      await endPools(pools);
    }
    const count = (p: Path) => [...paths.values()].filter((x) => x === p).length;
    console.log(
      `${rounds} rounds, ${claims} claims (${count('read')} answered by the read, ${count('insert')} by the insert, ${count('locked')} by the locking path), ${windowHits} window hits, ${takeovers} takeovers, ${completed} completed; ${pressure.summary()}`,
    );
    expect(windowHits).toBeGreaterThanOrEqual(5);
    expect(takeovers).toBe(Math.floor(rounds / 3));
  }, 120_000);
});
