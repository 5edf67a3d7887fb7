import { storeSuite } from '@idem/conformance/store';
import { Redis } from 'ioredis';
import { redisStore } from '../src/index.js';
import { recommended, redisUp, url } from './helpers.js';

const up = await redisUp(); // skips loudly when Redis is down; fails with CI=true
const client = new Redis(url, { ...recommended, lazyConnect: true }); // connects on first use

storeSuite({
  name: 'redis',
  clock: 'server', // leases and expiry judged by Redis's clock (TIME)
  sharedBackend: true, // two stores on one Redis see the same records
  createStore: () => redisStore({ client, prefix: 'idem-test:' }),
  teardown: () => void client.disconnect(),
  skip: !up && `Redis is not reachable at ${url}`,
});
