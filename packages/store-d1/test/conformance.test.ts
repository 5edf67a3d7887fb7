import { storeSuite } from '@idem/conformance/store';
import { d1Store } from '../src/index.js';
import { startD1, uniqueTable } from './miniflare.js';

// D1 inside workerd (miniflare), driven from Node through miniflare's binding proxy.
const d1 = await startD1();
const table = uniqueTable('idem_conformance');
await d1Store({ database: d1.database, table }).migrate();

storeSuite({
  name: 'd1 (miniflare binding proxy, SQLite clock)',
  clock: 'server', // leases and expiry judged by SQLite's julianday('now')
  sharedBackend: true,
  timeoutMs: 180_000, // each call crosses miniflare's proxy into workerd: slow on a loaded machine
  createStore: () => d1Store({ database: d1.database, table }),
});

// The same store with an injected clock: the model check then moves time by
// hand, so leases and expiry race every other command.
storeSuite({
  name: 'd1 (miniflare binding proxy, injected clock)',
  clock: 'injectable',
  sharedBackend: true,
  timeoutMs: 180_000, // each call crosses miniflare's proxy into workerd: slow on a loaded machine
  createStore: ({ now }) => d1Store({ database: d1.database, table, now }),
  teardown: () => d1.dispose(),
});
