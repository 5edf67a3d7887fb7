import {
  ABSENT,
  type Claim,
  claimTransactions,
  type LifecycleEvent,
  type OwnerResult,
  observe,
  type RecordState,
  type Store,
  type StoredResponse,
  toRecord,
  transition,
} from '@idem/core/store';
import type pg from 'pg';

/**
 * A transactional store for the suite's own tests: records on the reference
 * lifecycle in memory, the operation's writes in real PostgreSQL
 * transactions, bound and committed through core's `claimTransactions`,
 * with at most one deliberate flaw.
 */
export type TransactionalFlaw =
  | 'none'
  /** `transaction(claim)` hands out the pool: every write autocommits. */
  | 'writes outside the transaction'
  /** `release` commits the operation's transaction instead of rolling it back. */
  | 'release commits'
  /** The commit keeps the writes even when the record is no longer the token's. */
  | 'commit ignores a lost lease'
  /** A COMMIT that PostgreSQL answered with ROLLBACK counts as committed. */
  | 'failed commit reported as ok'
  /** The claim is never marked with `bindTransaction`. */
  | 'no bindTransaction'
  /** A claim whose operation finished gets a new transaction nobody commits. */
  | 'late transaction opened';

/** What one query needs: a client inside the transaction, or (flawed) the pool. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

export interface FixtureStore extends Store {
  transaction(claim: Claim | undefined): Promise<Queryable>;
  /** Give back connections the 'late transaction opened' flaw leaked. */
  close(): void;
}

interface Completion {
  readonly key: string;
  readonly token: string;
  readonly response: StoredResponse;
  readonly ttlMs: number;
}

export function fixtureStore(pool: pg.Pool, flaw: TransactionalFlaw = 'none'): FixtureStore {
  const records = new Map<string, RecordState>();
  const leaked: pg.PoolClient[] = [];

  function apply(key: string, event: LifecycleEvent) {
    const { next, result } = transition(records.get(key) ?? ABSENT, event);
    if (next.state === 'absent') records.delete(key);
    else records.set(key, next);
    return result;
  }

  async function begin(): Promise<pg.PoolClient> {
    const client = await pool.connect();
    await client.query('BEGIN');
    return client;
  }

  const tx = claimTransactions<pg.PoolClient, Completion>({
    name: 'fixtureStore',
    begin,
    async commit(client, { key, token, response, ttlMs }) {
      try {
        const state = observe(records.get(key) ?? ABSENT, Date.now());
        const owns = state.state === 'in_progress' && state.token === token;
        if (!owns && flaw !== 'commit ignores a lost lease') {
          await client.query('ROLLBACK');
          return false;
        }
        const answer = await client.query('COMMIT');
        if (answer.command !== 'COMMIT' && flaw !== 'failed commit reported as ok') {
          throw new Error('The transaction had failed earlier; PostgreSQL rolled it back.');
        }
        if (!owns) return false;
        return apply(key, { type: 'complete', now: Date.now(), token, response, ttlMs }) === 'ok';
      } finally {
        client.release();
      }
    },
    async rollback(client) {
      try {
        await client.query(flaw === 'release commits' ? 'COMMIT' : 'ROLLBACK');
      } finally {
        client.release();
      }
    },
  });

  return {
    async claim(key, request) {
      const result = apply(key, { type: 'claim', now: Date.now(), ...request });
      return result as Awaited<ReturnType<Store['claim']>>;
    },
    async complete(key, token, response, ttlMs) {
      const committed = await tx.commit(key, token, { key, token, response, ttlMs });
      if (committed !== undefined) return committed;
      return apply(key, {
        type: 'complete',
        now: Date.now(),
        token,
        response,
        ttlMs,
      }) as OwnerResult;
    },
    async release(key, token) {
      await tx.rollback(key, token);
      return apply(key, { type: 'release', now: Date.now(), token }) as OwnerResult;
    },
    async renew(key, token, leaseMs) {
      return apply(key, { type: 'renew', now: Date.now(), token, leaseMs }) as OwnerResult;
    },
    async read(key) {
      return toRecord(observe(records.get(key) ?? ABSENT, Date.now()));
    },
    async transaction(claim) {
      switch (flaw) {
        case 'writes outside the transaction':
          await tx.bind(claim);
          return pool;
        case 'no bindTransaction': {
          const client = await tx.bind(claim);
          // As if bindTransaction had never been called: core's mark is gone.
          if (claim) Reflect.deleteProperty(claim, Symbol.for('idem.transactional'));
          return client;
        }
        case 'late transaction opened':
          return tx.bind(claim).catch(async () => {
            const client = await begin();
            leaked.push(client);
            return client;
          });
        default:
          return tx.bind(claim);
      }
    },
    close() {
      for (const client of leaked.splice(0)) client.release(true);
    },
  };
}
