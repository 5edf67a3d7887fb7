import { storeSuite } from '@idem/conformance/store';
import { memoryStore } from '../src/index.js';

storeSuite({
  name: 'memory',
  clock: 'injectable',
  createStore: ({ now }) => memoryStore({ now }),
});
