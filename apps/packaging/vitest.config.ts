import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

// The test itself runs on sources like every other; the apps it starts are
// plain `node` processes, which load the built packages, as users do.
export default defineProject({
  ...sourceConditions,
  // module-copies builds every package first (turbo), minutes on a fresh clone:
  // it runs in the deep tier on Node 20 and in the compatibility tier on every
  // Node major, both after or with a build, never in the everyday tier.
  test: tierTest('packaging', ['test/module-copies.deep.test.ts']),
});
