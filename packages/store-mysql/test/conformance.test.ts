import { storeSuite } from '@idem/conformance/store';
import { mysqlStore } from '../src/index.js';
import { dropStore, endPools, newPool, uniqueTable, up } from './db.js';

// Two pools, so stores built for the two-instance race talk over separate connections.
const pools = [newPool(), newPool()];
const table = uniqueTable('idem_conformance');
if (up) await mysqlStore({ pool: pools[0]!, table }).migrate();
let built = 0;

storeSuite({
  name: 'mysql (MariaDB or MySQL)',
  clock: 'server', // leases and expiry judged by the database's UTC_TIMESTAMP()
  sharedBackend: true,
  createStore: () => mysqlStore({ pool: pools[built++ % 2]!, table }),
  // A pool of its own, as another app instance: its claims reach the server on other connections.
  connect: () => {
    const pool = newPool();
    return { store: mysqlStore({ pool, table }), close: () => endPools([pool]) };
  },
  teardown: async () => {
    await dropStore(pools[0]!, table);
    await endPools();
  },
  skip: !up && 'MySQL/MariaDB is not reachable',
});
