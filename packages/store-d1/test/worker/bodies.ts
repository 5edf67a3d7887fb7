/**
 * A Worker that stores one body of `maxResponseBytes` through `d1Store` and
 * reads it back, inside workerd where D1 runs, as in production (see
 * `largeBodyRoundTrip` for why not from Node: 4.7 s on a quiet machine, 18 s
 * on a busy one through miniflare's binding proxy).
 */
import { scopedKey } from '@idem/core/store';
import { largeBodyRoundTrip } from '@idem/test-workerd/worker';
import { type D1DatabaseLike, d1Store } from '../../src/index.js';

export default {
  async fetch(_request: Request, env: { DB: D1DatabaseLike }): Promise<Response> {
    const store = d1Store({ database: env.DB, table: 'idem_bodies' });
    await store.migrate();
    return largeBodyRoundTrip(store, await scopedKey('bodies', crypto.randomUUID()));
  },
};
