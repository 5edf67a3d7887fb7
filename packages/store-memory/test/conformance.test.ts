import { storeSuite } from '@idem/conformance/store';
import { memoryStore } from '../src/index.js';

storeSuite({
  name: 'memory',
  clock: 'injectable',
  createStore: ({ now }) => memoryStore({ now }),
  skipGroups: {
    connections:
      'a Map in this process: there is no second connection to open, nor another process to share it with',
  },
});
