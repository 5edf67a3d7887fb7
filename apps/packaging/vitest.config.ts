import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

// The test itself runs on sources like every other; the apps it starts are
// plain `node` processes, which load the built packages, as users do.
export default defineProject({
  ...sourceConditions,
  // Run again on every Node major (the compatibility tier): the built packages loaded by import
  // and require, in a plain Node process.
  test: tierTest('packaging', ['test/module-copies.test.ts']),
});
