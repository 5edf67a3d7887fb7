import { storeSuite } from '@idem/conformance/store';
import { durableObjectStore } from '../src/index.js';
import { startObjects } from './miniflare.js';

// The objects run in workerd (miniflare); the store drives them from Node
// through miniflare's namespace proxy, one RPC call per operation.
const objects = await startObjects();

storeSuite({
  name: "durable objects (miniflare binding proxy, the object's clock)",
  clock: 'server', // leases and expiry judged by each object's Date.now() when the call arrives
  sharedBackend: true,
  timeoutMs: 180_000, // each call crosses miniflare's proxy into workerd: slow on a loaded machine
  createStore: () => durableObjectStore({ namespace: objects.namespace }),
});

// The same store with an injected clock: the model check then moves time by
// hand, so leases and expiry race every other command.
storeSuite({
  name: 'durable objects (miniflare binding proxy, injected clock)',
  clock: 'injectable',
  sharedBackend: true,
  timeoutMs: 180_000, // each call crosses miniflare's proxy into workerd: slow on a loaded machine
  createStore: ({ now }) => durableObjectStore({ namespace: objects.namespace, now }),
  teardown: () => objects.dispose(),
});
