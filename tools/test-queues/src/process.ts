import { createIdempotency, type Idempotency } from '@idem/core';
import { type PostgresStore, postgresStore } from '@idem/store-postgres';
import pg from 'pg';
import { type ParentLink, parentLink } from './child.js';
import { withoutIdem } from './naive.js';

/** What a consumer process of the crash tests runs its example consumer with. */
export interface ConsumerProcess {
  readonly link: ParentLink;
  /** idem on the run's records table, or with `WITHOUT_IDEM=1` the control that has none. */
  readonly idem: Idempotency;
  readonly store: PostgresStore;
  /** A variable the test set; throws if it did not. */
  env(name: string): string;
  /** Serve until the test says stop, then `close` the consumer, end the pool and exit. */
  serve(close: () => Promise<void>): Promise<never>;
}

/** Set up a consumer process forked by `crashRun` from the variables the crash suite sets. */
export function consumerProcess(): ConsumerProcess {
  const env = (name: string) => {
    const value = process.env[name];
    if (value === undefined) throw new Error(`consumer process: ${name} is not set`);
    return value;
  };
  const link = parentLink();
  const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 10 });
  pool.on('error', () => {});
  const store = postgresStore({ pool, table: env('RECORDS_TABLE') });
  const engine =
    env('WITHOUT_IDEM') === '1'
      ? withoutIdem(pool)
      : { idem: createIdempotency({ store, leaseMs: Number(env('LEASE_MS')) }), store };
  return {
    link,
    ...engine,
    env,
    async serve(close) {
      link.ready();
      await link.stop;
      await close();
      await pool.end();
      process.exit(0);
    },
  };
}
