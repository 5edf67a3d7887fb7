import { storeSuite } from '@idem/conformance/store';
import { postgresStore } from '../src/index.js';
import { endPools, newPool, uniqueTable, up } from './db.js';

// Two pools, so stores built for the two-instance race talk over separate connections.
const pools = [newPool(), newPool()];
const table = uniqueTable('idem_conformance');
if (up) await postgresStore({ pool: pools[0]!, table }).migrate();
let built = 0;

storeSuite({
  name: 'postgres',
  clock: 'server', // leases and expiry judged by PostgreSQL's statement_timestamp()
  sharedBackend: true,
  createStore: () => postgresStore({ pool: pools[built++ % 2]!, table }),
  // A pool of its own, as another app instance: its claims reach PostgreSQL on other connections.
  connect: () => {
    const pool = newPool();
    return { store: postgresStore({ pool, table }), close: () => endPools([pool]) };
  },
  teardown: async () => {
    await pools[0]!.query(`DROP TABLE IF EXISTS ${table}`);
    await endPools();
  },
  skip: !up && 'PostgreSQL is not reachable',
});
