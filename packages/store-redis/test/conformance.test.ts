import { storeSuite } from '@idem/conformance/store';
import { afterAll } from 'vitest';
import { redisStore } from '../src/index.js';
import { connectAs, LIBRARIES, patient, redisUp, url } from './helpers.js';

const up = await redisUp(); // skips loudly when Redis is down; fails with CI=true

for (const library of LIBRARIES) {
  const connection = up ? await connectAs(library, patient) : undefined;
  afterAll(() => connection?.close());
  storeSuite({
    name: `redis (${library})`,
    clock: 'server', // leases and expiry are the keys' own expiry, on Redis's clock
    sharedBackend: true, // two stores on one Redis see the same records
    createStore: () => redisStore({ client: connection!.client, prefix: 'idem-test:' }),
    // A client of its own: another connection to the same Redis, as another app instance.
    connect: async () => {
      const own = await connectAs(library, patient);
      return { store: redisStore({ client: own.client, prefix: 'idem-test:' }), close: own.close };
    },
    skip: !up && `Redis is not reachable at ${url}`,
  });
}
