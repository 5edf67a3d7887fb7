import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): the Node adapter's streams, Web
  // Request/Response, WebCrypto fingerprints and keys, a plain Node process, and the edge bundle
  // run in node:vm.
  test: tierTest('core', [
    'src/node/**/*.test.ts',
    'src/http/**/*.test.ts',
    'src/fingerprint.test.ts',
    'src/key.test.ts',
    'test/process.test.ts',
    'test/edge.test.ts',
  ]),
});
