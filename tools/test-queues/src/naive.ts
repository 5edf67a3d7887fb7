import type { Claim, Idempotency } from '@idem/core';
import type { PostgresStore } from '@idem/store-postgres';
import type pg from 'pg';

/**
 * The control of the crash tests: what a consumer does without idem. It
 * keeps the example consumer's code path (the operation writes on
 * `store.transaction(context)`), but `run` only wraps the operation in a
 * transaction of its own and commits it: no record, no replay. Killed after
 * its commit and before its ack, it applies the redelivered message again,
 * which is what the tests must be able to see.
 */
export function withoutIdem(pool: pg.Pool): { idem: Idempotency; store: PostgresStore } {
  const open = new WeakMap<Claim, pg.PoolClient>();
  const run = async (_key: string, operation: (context: Claim) => unknown) => {
    const client = await pool.connect();
    const context: Claim = { storeKey: '', token: '', protected: false };
    try {
      await client.query('BEGIN');
      open.set(context, client);
      const value = await operation(context);
      await client.query('COMMIT');
      return { kind: 'executed' as const, value };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  };
  const transaction = async (context: Claim | undefined) => open.get(context!)!;
  return {
    idem: { run } as unknown as Idempotency,
    store: { transaction } as unknown as PostgresStore,
  };
}
