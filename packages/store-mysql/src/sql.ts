import type { StoredRecord } from '@idem/core/store';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { errno, setupError } from './config.js';

/** A column as the store reads it: raw bytes (typeCast off), whatever the pool's own settings. */
export type Cell = Buffer | null;

/** MySQL literals for any bytes, whatever the connection's character set. */
export const hex = (bytes: Uint8Array): string =>
  `X'${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}'`;
/** A string as the hex literal of its UTF-8 bytes. */
export const text = (value: string): string => hex(Buffer.from(value, 'utf8'));
/** Keys, tokens and fingerprints fit VARBINARY(255) as UTF-8, and round-trip through it. */
export const fits = (value: unknown): value is string =>
  typeof value === 'string' && !/\p{Cs}/u.test(value) && Buffer.byteLength(value) <= 255;
/** A whole, non-negative number as an SQL literal. */
export const whole = (n: number): string => String(Math.max(0, Math.floor(n)));

// Deadlocks (1213) roll a statement back having changed nothing; InnoDB can
// report one for concurrent upserts of one key. Retried, each attempt one round trip.
const MAX_ATTEMPTS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one statement: one round trip. */
export type Query = (on: Pool | PoolConnection, sql: string) => Promise<unknown>;

/**
 * The store's statement runner: `typeCast` off and rows as arrays, so no
 * setting of the user's pool can reshape the columns; deadlocks retried on
 * the pool (never inside a transaction, which a deadlock rolled back); a
 * store that is not set up reported as such.
 */
export function statements(pool: Pool, table: string): Query {
  return async function query(on, sql) {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await on.query({ sql, rowsAsArray: true, typeCast: false }))[0];
      } catch (error) {
        if (errno(error) !== 1213 || attempt >= MAX_ATTEMPTS || on !== pool) {
          throw setupError(error, table);
        }
        // Jittered backoff, so contenders of one hot key stop colliding.
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  };
}

/** A record from its columns: state, fingerprint, expires_at, status, headers, body. */
export function toRecord([
  state,
  fingerprint,
  expires,
  status,
  headers,
  body,
]: Cell[]): StoredRecord {
  const common = { fingerprint: fingerprint!.toString('utf8') };
  const at = Number(expires!.toString());
  if (state!.toString() === 'in_progress') {
    return { state: 'in_progress', ...common, leaseExpiresAt: at };
  }
  return {
    state: 'completed',
    ...common,
    expiresAt: at,
    response: {
      status: Number(status!.toString()),
      headers: (JSON.parse(headers!.toString('utf8')) as Array<[string, string]>).map(
        ([name, value]) => [name, value] as const,
      ),
      // A copy: mysql2 hands out Buffers that share the packet's memory.
      body: new Uint8Array(body!),
    },
  };
}
